#!/usr/bin/env bash
# Local calibration of the planner (issue 3): probe this machine (`tessera bench kernels`), measure a 1-rank
# and a 2-rank (mpirun, data parallel, same global batch) training run of CONFIG (`tessera bench train`),
# and let `tessera plan calibrate` predict both step times from the probe alone. Appends the comparison
# to bench/RESULTS.md. Usage: bench/calibrate_local.sh [CONFIG=configs/small.toml] [STEPS=4]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
config="${1:-configs/small.toml}"
steps="${2:-4}"
[ -x build/tessera ] || bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
micro=$(build/tessera bench train "$config" --steps 1 --warmup 0 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_size"])')
build/tessera bench kernels --json --seconds 0.5 >"$out/probe.json"
build/tessera bench train "$config" --steps "$steps" --warmup 1 --threads 2 --json >"$out/one.json"
mpirun -n 2 --bind-to core build/tessera bench train "$config" --steps "$steps" --warmup 1 --json \
  --set parallel.dp=2 --set train.micro_batch=$((micro / 2)) >"$out/two.json"
# Before anything is appended to bench/RESULTS.md, which would make the tree look modified.
commit="$(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
report=""
for run in one two; do
  line=$(build/tessera plan calibrate --probe "$out/probe.json" --config "$config" --measured "$out/$run.json" --json |
    /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("| %d | %d | %.3f | %.3f | %+.1f%% |" % (r["ranks"], r["micro_batch"], r["step_time_s"], r["measured_step_time_s"], r["error_percent"]))')
  echo "$line"
  report+="$line"$'\n'
done
{
  echo
  echo "## $(date -u +%Y-%m-%d) — planner calibration on this machine, $config"
  echo
  echo "- commit: $commit; command: \`bench/calibrate_local.sh $config $steps\`"
  echo "- probe: $(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("matmul " + ", ".join("%dx%dx%d %.0f" % (m["m"], m["n"], m["k"], m["gflops"]) for m in r["matmul"]) + " GFLOP/s; bandwidth %.1f GB/s" % r["memory_bandwidth_gbs"])' "$out/probe.json")"
  echo
  echo "| ranks | micro-batch per rank | predicted s/step | measured s/step | error |"
  echo "|---|---|---|---|---|"
  printf '%s' "$report"
} >>bench/RESULTS.md
