#!/usr/bin/env bash
# Data-parallel scaling and ZeRO memory on one host (issue 8), interleaved in one run so that the machine's
# drift hits every layout alike: per round, 1 rank × 1 thread, then 2 ranks × 1 thread (same per-rank
# micro-batch, so twice the global batch) with overlap on, with overlap off, and with ZeRO-1/2/3 — all
# through `tessera bench train` on random tokens. Prints one line per run and the medians: tokens/s and the
# speed-up over one rank, the exposed communication per step, the largest rank's peak RSS against the
# per-rank prediction (the program's own baseline is in the one-rank line), and the load before and after.
#
# Usage: bench/dp_scaling.sh [CONFIG=configs/small.toml] [ROUNDS=3] [STEPS=4]   (TESSERA_BUILD=build)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
config="${1:-configs/small.toml}"
rounds="${2:-3}"
steps="${3:-4}"
build="${TESSERA_BUILD:-build}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(git rev-parse --short HEAD); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {  # NAME RANKS [--set ...]
  local name="$1" ranks="$2"
  shift 2
  local cmd=("$build/tessera" bench train "$config" --steps "$steps" --warmup 1 --threads 1 --json "$@")
  if [ "$ranks" -gt 1 ]; then cmd=(mpirun -q -n "$ranks" --bind-to none "${cmd[@]}" --set parallel.dp="$ranks"); fi
  "${cmd[@]}" 2>/dev/null | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
print(json.dumps({"layout": sys.argv[1], "tokens_per_s": r["tokens_per_s"], "comm_exposed_s": r.get("comm_exposed_s", 0),
                  "peak_rss_mib": r["peak_rss_mib_max_rank"], "predicted_mib": r["predicted_memory_mib"],
                  "step_time_s": r["step_time_s"]}))' "$name"
}
results=$(mktemp)
for round in $(seq "$rounds"); do
  run "1 rank" 1 | tee -a "$results"
  run "dp2 overlap" 2 | tee -a "$results"
  run "dp2 no overlap" 2 --set parallel.overlap_comm=false | tee -a "$results"
  run "dp2 zero1" 2 --set parallel.zero_stage=1 | tee -a "$results"
  run "dp2 zero2" 2 --set parallel.zero_stage=2 | tee -a "$results"
  run "dp2 zero3" 2 --set parallel.zero_stage=3 | tee -a "$results"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
layouts = list(dict.fromkeys(r["layout"] for r in rows))
med = {l: {k: statistics.median(r[k] for r in rows if r["layout"] == l) for k in rows[0] if k != "layout"} for l in layouts}
base = med["1 rank"]["tokens_per_s"]
print("| layout | tokens/s (median) | vs 1 rank | exposed comm / step | peak RSS (largest rank) | predicted per rank |")
print("|---|---|---|---|---|---|")
for l in layouts:
    m = med[l]
    print(f"| {l} | {m['tokens_per_s']:.0f} | {m['tokens_per_s'] / base:.2f}x | {1e3 * m['comm_exposed_s']:.0f} ms | "
          f"{m['peak_rss_mib']:.0f} MiB | {m['predicted_mib']:.0f} MiB |")
PY
