#!/usr/bin/env bash
# End-to-end training throughput, Tessera vs the PyTorch peer (../shared/bench/run_peer.sh: Debian's
# python3-torch with tcmalloc and the OpenMP OpenBLAS), on the same model shape, batch and thread count, fp32
# and bf16 (the peer's bf16 is torch.autocast), interleaved in one run (T32, P32, T16, P16, ...) so that the
# machine's drift hits all alike. MFU is against the peaks Tessera probes at start-up in the same run (fp32 FMA
# loop for fp32, bf16 dot-product loop for bf16; docs/training.md), for Tessera and the peer alike. Appends a
# section to bench/RESULTS.md with the machine, commit, command, every measurement and the median ratios.
#
# The load average before and after the run goes into the section too: on a shared machine the ratios of
# two preempted timings are not the machine's.
#
# Usage: bench/compare_peer.sh [CONFIG=configs/small.toml] [ROUNDS=3] [STEPS=5] [THREADS=2]
#   TESSERA_BUILD=<dir> (default build) picks the build directory whose tessera binary is measured.
#   PRECISIONS="fp32 bf16" (default) or one of them.
#   TESSERA_SET="key=value ..." extra config overrides for Tessera (e.g. parallel.recompute=selective).
#   PEER_ATTN=manual (default) or sdpa: the peer's attention (sdpa is PyTorch's fused attention, which never
#   materialises T×T either: the fair peer at long context).
# The peer's peak RSS is recorded beside Tessera's (GNU time's maximum resident set of the peer process).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
config="${1:-configs/small.toml}"
rounds="${2:-3}"
steps="${3:-5}"
threads="${4:-2}"
build="${TESSERA_BUILD:-build}"
precisions="${PRECISIONS:-fp32 bf16}"
peer_attn="${PEER_ATTN:-manual}"
sets=()
for kv in ${TESSERA_SET:-}; do sets+=(--set "$kv"); done
peer="$(readlink -f ../shared/bench/run_peer.sh)"
if [ ! -x "$build/tessera" ]; then
  [ "$build" = build ] || { echo "compare_peer: $build/tessera not found (TESSERA_BUILD=$build)"; exit 1; }
  bash scripts/setup.sh
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
[ -f "$peer" ] || { echo "compare_peer: $peer not found (the shared peer benchmark)"; exit 1; }

# The peer takes the shape as flags: read it from the config through tessera's own resolved view.
shape=$("$build/tessera" bench train "$config" --steps 1 --warmup 0 --threads "$threads" --json |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["n_layer"], r["n_head"], r["n_embd"], r["seq_len"], r["batch_size"], r["vocab_size"])')
read -r L H C T B V <<<"$shape"

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
  for precision in $precisions; do
    out=$(OMP_NUM_THREADS="$threads" "$build/tessera" bench train "$config" --steps "$steps" --warmup 1 --threads "$threads" \
          --set parallel.precision="$precision" "${sets[@]}" --json)
    flag=(); [ "$precision" = bf16 ] && flag=(--bf16)
    peer_out=$(/usr/bin/time -f "peer_max_rss_kib %M" bash "$peer" --layers "$L" --heads "$H" --dim "$C" --seq "$T" --batch "$B" \
          --vocab "$V" --threads "$threads" --steps "$steps" --warmup 1 --attn "$peer_attn" "${flag[@]}" 2>&1)
    p=$(echo "$peer_out" | awk '/^tokens\/s median/ {print $3}')
    prss=$(echo "$peer_out" | awk '/^peer_max_rss_kib/ {print $2}')
    echo "$out" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); r["peer_tokens_per_s"]=float(sys.argv[1]); r["round"]=int(sys.argv[2]); r["peer_peak_rss_mib"]=float(sys.argv[3])/1024; print(json.dumps(r))' "$p" "$round" "$prss" >>"$results"
    tail -1 "$results" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("round %d %s: tessera %.1f tok/s (MFU %.1f%% of %.0f GFLOP/s probed, RSS %.0f MiB), peer %.1f tok/s (RSS %.0f MiB)" % (r["round"], r["precision"], r["tokens_per_s"], 100*r["mfu"], r["peak_flops_per_s"]/1e9, r["peak_rss_mib"], r["peer_tokens_per_s"], r["peer_peak_rss_mib"]))'
  done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
summary=$(/usr/bin/python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
print("| precision | tessera tok/s | peer tok/s | tessera / peer | probed peak GFLOP/s | tessera MFU | peer MFU | tessera peak RSS MiB | peer peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
by = {}
for precision in ("fp32", "bf16"):
    rs = [r for r in rows if r["precision"] == precision]
    if not rs:
        continue
    t, p = med([r["tokens_per_s"] for r in rs]), med([r["peer_tokens_per_s"] for r in rs])
    peak = med([r["peak_flops_per_s"] for r in rs])
    fpt = rs[0]["flops_per_token"]
    by[precision] = t
    print("| %s | %.1f | %.1f | **%.2fx** | %.0f | %.1f%% | %.1f%% | %.0f | %.0f |" % (
        precision, t, p, t / p, peak / 1e9, 100 * t * fpt / peak, 100 * p * fpt / peak, med([r["peak_rss_mib"] for r in rs]),
        med([r["peer_peak_rss_mib"] for r in rs])))
print()
own = "Tessera bf16 / own fp32: **%.2fx**. " % (by["bf16"] / by["fp32"]) if len(by) == 2 else ""
print("%sPer round (tessera / peer tok/s): %s" % (own, ", ".join(
    "%s %.1f / %.1f" % (r["precision"], r["tokens_per_s"], r["peer_tokens_per_s"]) for r in rows)))
PY
)
echo "$summary"
{
  echo
  echo "## $(date -u +%Y-%m-%d) ($(date -u +%H:%M) UTC) — $config, $threads threads, $precisions"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '))"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "- command: \`bench/compare_peer.sh $config $rounds $steps $threads\` (shape L=$L H=$H C=$C T=$T B=$B V=$V; $rounds interleaved rounds of $steps timed steps after 1 warmup, precisions $precisions in each round)"
  if [ ${#sets[@]} -gt 0 ]; then echo "- Tessera overrides: ${TESSERA_SET}"; fi
  echo "- peer attention: $peer_attn"
  echo "- MFU of both against the peaks tessera probed at start-up in the same run (fp32 FMA loop; bf16 dot-product loop); FLOPs/token = 6·N_mm + 12·L·T·C"
  echo "- load average (1, 5, 15 min) before: $load_before; after: $load_after ($(nproc) cores)"
  echo
  echo "$summary"
} >>bench/RESULTS.md
