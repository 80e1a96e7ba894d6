#!/usr/bin/env bash
# Data, tensor and pipeline parallelism on one host (issue 9), interleaved in one run so that the machine's drift
# hits every layout alike: per round, 1 rank × 2 threads, dp=2, tp=2 (with and without sequence parallelism) and
# pp=2 (1F1B, GPipe, ZB-H1, interleaved with 3 chunks per rank) × 1 thread per rank, all on the same global batch through `tessera bench train` on
# random tokens, the vocabulary padded to VOCAB (tp must divide it; 50304 = GPT-2's 50257 padded to 128·k). Then `tessera plan calibrate` predicts each
# layout's step time and bubble from this machine's kernel probe alone (`tessera bench kernels`, run first).
# Prints one line per run and a table of medians: tokens/s, the measured bubble against the schedule's ideal
# (F = 1, B = 2, even stages) and the planner's prediction, the largest rank's peak RSS and its prediction.
#
# Usage: bench/pipeline.sh [CONFIG=configs/small.toml] [ROUNDS=3] [STEPS=3] [MICRO=2] [GLOBAL=16] [VOCAB=50304]
#        (TESSERA_BUILD=build)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
config="${1:-configs/small.toml}"
rounds="${2:-3}"
steps="${3:-3}"
micro="${4:-2}"
global="${5:-16}"
vocab="${6:-50304}"
build="${TESSERA_BUILD:-build}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(git rev-parse --short HEAD); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {  # NAME RANKS THREADS [--set ...]
  local name="$1" ranks="$2" threads="$3"
  shift 3
  local cmd=("$build/tessera" bench train "$config" --steps "$steps" --warmup 1 --threads "$threads" --json
             --set train.micro_batch="$micro" --set train.global_batch="$global" "$@")
  if [ "$ranks" -gt 1 ]; then cmd=(mpirun -q -n "$ranks" --bind-to none "${cmd[@]}"); fi
  local file="$runs/$(echo "$name" | tr -c 'a-z0-9\n' _)_$(date +%s%N).json"
  "${cmd[@]}" 2>/dev/null | tee "$file" | /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
print(json.dumps({"layout": sys.argv[1], "file": sys.argv[2], "tokens_per_s": r["tokens_per_s"], "step_time_s": r["step_time_s"],
                  "bubble": r.get("pipeline_bubble", 0), "micro_batches": r["micro_batches"], "pp": r["pp"], "tp": r["tp"], "vpp": r["vpp"],
                  "peak_rss_mib": r["peak_rss_mib_max_rank"], "predicted_mib": r["predicted_memory_mib_max_rank"]}))' "$name" "$file"
}
runs="${TESSERA_BENCH_KEEP:-$(mktemp -d)}"  # TESSERA_BENCH_KEEP=DIR keeps the runs' JSON for replanning
mkdir -p "$runs"
results="$runs/results.jsonl"  # one line per run; bench/pipeline_table.py DIR/results.jsonl ... replans them
: >"$results"
[ -n "${TESSERA_BENCH_KEEP:-}" ] || trap 'rm -rf "$runs"' EXIT
# The config with the padded vocabulary: what every layout trains and what the planner predicts.
sed -E "s/^vocab_size *=.*/vocab_size = $vocab/" "$config" >"$runs/config.toml"
grep -q "^vocab_size = $vocab\$" "$runs/config.toml" || { echo "bench: no [model] vocab_size line in $config" >&2; exit 1; }
config="$runs/config.toml"
"$build/tessera" bench kernels --json --seconds 0.5 >"$runs/probe.json"
# The link tensor parallelism's blocking collectives run on (the mpi backend between 2 ranks), measured here too.
mpirun -q -n 2 --bind-to none "$build/tessera" bench comm --json --backends mpi --ops all_reduce --min-bytes 65536 \
  --max-bytes 1048576 >"$runs/comm_probe.json"
for round in $(seq "$rounds"); do
  run "1 rank x 2 threads" 1 2 | tee -a "$results"
  run "dp2" 2 1 --set parallel.dp=2 | tee -a "$results"
  run "tp2" 2 1 --set parallel.dp=1 --set parallel.tp=2 | tee -a "$results"
  run "tp2 sp" 2 1 --set parallel.dp=1 --set parallel.tp=2 --set parallel.sequence_parallel=true | tee -a "$results"
  run "pp2 1f1b" 2 1 --set parallel.dp=1 --set parallel.pp=2 | tee -a "$results"
  run "pp2 gpipe" 2 1 --set parallel.dp=1 --set parallel.pp=2 --set parallel.schedule=gpipe | tee -a "$results"
  run "pp2 zb-h1" 2 1 --set parallel.dp=1 --set parallel.pp=2 --set parallel.schedule=zb-h1 | tee -a "$results"
  run "pp2 interleaved v3" 2 1 --set parallel.dp=1 --set parallel.pp=2 --set parallel.schedule=interleaved \
    --set parallel.vpp=3 | tee -a "$results"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/pipeline_table.py "$results" "$build/tessera" "$runs/probe.json" "$config" "$runs/comm_probe.json"
