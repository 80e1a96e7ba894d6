#!/usr/bin/env bash
# End-to-end training throughput, Tessera vs the PyTorch peer (../shared/bench/run_peer.sh: Debian's
# python3-torch with the OpenMP OpenBLAS), on the same model shape, batch and thread count, interleaved
# in one run (T, P, T, P, ...) so that the machine's drift hits both alike. Appends a section to
# bench/RESULTS.md with the machine, commit, command, every measurement and the median ratio.
#
# Usage: bench/compare_peer.sh [CONFIG=configs/small.toml] [ROUNDS=3] [STEPS=5] [THREADS=2]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
config="${1:-configs/small.toml}"
rounds="${2:-3}"
steps="${3:-5}"
threads="${4:-2}"
peer="$(readlink -f ../shared/bench/run_peer.sh)"
[ -x build/tessera ] || bash scripts/setup.sh
[ -f "$peer" ] || { echo "compare_peer: $peer not found (the shared peer benchmark)"; exit 1; }

# The peer takes the shape as flags: read it from the config through tessera's own resolved view.
shape=$(build/tessera bench train "$config" --steps 1 --warmup 0 --threads "$threads" --json |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["n_layer"], r["n_head"], r["n_embd"], r["seq_len"], r["batch_size"], r["vocab_size"])')
read -r L H C T B V <<<"$shape"

tessera_runs=()
peer_runs=()
rss=()
for round in $(seq 1 "$rounds"); do
  out=$(OMP_NUM_THREADS="$threads" build/tessera bench train "$config" --steps "$steps" --warmup 1 --threads "$threads" --json)
  tessera_runs+=("$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
  rss+=("$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["peak_rss_mib"]))')")
  p=$(bash "$peer" --layers "$L" --heads "$H" --dim "$C" --seq "$T" --batch "$B" --vocab "$V" --threads "$threads" \
        --steps "$steps" --warmup 1 | awk '/^tokens\/s median/ {print $3}')
  peer_runs+=("$p")
  echo "round $round: tessera ${tessera_runs[-1]} tok/s (peak RSS ${rss[-1]} MiB), peer $p tok/s"
done

summary=$(/usr/bin/python3 - "${tessera_runs[*]}" "${peer_runs[*]}" "$L" "$C" "$T" "$V" "$threads" <<'PY'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
L, C, T, V, threads = (int(x) for x in sys.argv[3:8])
flops_per_token = 6 * (12 * L * C * C + V * C) + 12 * L * T * C
peak = 116e9 * threads
mt, mp = statistics.median(t), statistics.median(p)
print("| tessera tok/s (median) | peer tok/s (median) | ratio | tessera MFU | peer MFU |")
print("|---|---|---|---|---|")
print("| %.1f | %.1f | **%.2fx** | %.1f%% | %.1f%% |" % (mt, mp, mt / mp, 100 * mt * flops_per_token / peak,
                                                     100 * mp * flops_per_token / peak))
print()
print("Per round (tessera / peer): " + ", ".join("%.1f / %.1f" % pair for pair in zip(t, p)))
PY
)
echo "$summary"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — $config, $threads threads, fp32"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "- command: \`bench/compare_peer.sh $config $rounds $steps $threads\` (shape L=$L H=$H C=$C T=$T B=$B V=$V; $rounds interleaved rounds of $steps timed steps after 1 warmup)"
  echo "- MFU against the measured fp32 FMA peak of 116 GFLOP/s per core (DESIGN.md); FLOPs/token = 6·N_mm + 12·L·T·C"
  echo "- tessera peak RSS: ${rss[*]} MiB"
  echo
  echo "$summary"
} >>bench/RESULTS.md
