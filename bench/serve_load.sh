#!/usr/bin/env bash
# Load test of `tessera serve` on loopback: C concurrent clients send R completion requests each
# (max_tokens M, sampled), at concurrency 1 and C, and the throughput (requests/s, generated tokens/s) and
# latency (p50, p99 of whole requests) are printed as one JSON line per concurrency.
# Usage: bench/serve_load.sh [--build DIR] [--run RUN_DIR] [--clients C] [--requests R] [--max-tokens M]
#                            [--slots S] [--threads N]
# Without --run it trains configs/small.toml's shape (L=6, NH=6, C=384, T=256) with the fortunes test data's
# 2048-token vocabulary for 3 steps (prepared if missing) in a temporary directory: throughput does not
# depend on what the model learned, and a nearly untrained one rarely ends early at eos. Bounded: C·R
# requests of at most M tokens each.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
BUILD=build RUN="" CLIENTS=8 REQUESTS=8 MAX_TOKENS=32 SLOTS=8 THREADS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --run) RUN="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    --max-tokens) MAX_TOKENS="$2"; shift 2 ;;
    --slots) SLOTS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "serve_load.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
TESSERA="$BUILD/tessera"
[ -x "$TESSERA" ] || { echo "serve_load.sh: no $TESSERA; build first (scripts/setup.sh)" >&2; exit 1; }
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
if [ -z "$RUN" ]; then
  DATA="$BUILD/test_data/fortunes"
  [ -f "$DATA/dataset.json" ] || "$TESSERA" data prepare --input /usr/share/games/fortunes --out "$DATA" --vocab-size 2048 >/dev/null
  "$TESSERA" train tests/configs/test_tiny.toml --data "$DATA" --out "$WORK/run" --steps 3 --quiet \
    --set model.n_layer=6 --set model.n_head=6 --set model.n_embd=384 --set model.seq_len=256 \
    --set train.micro_batch=2 --set train.warmup_steps=1 --set train.threads="$THREADS" 2>/dev/null
  RUN="$WORK/run"
fi
"$TESSERA" serve "$RUN" --port 0 --slots "$SLOTS" --threads "$THREADS" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 600); do grep -q "listening on" "$WORK/serve.out" && break; sleep 0.1; done
URL=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$WORK/serve.out")
[ -n "$URL" ] || { echo "serve_load.sh: the server did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
PY=$(command -v /usr/bin/python3 || command -v python3)
"$PY" - "$URL" "$CLIENTS" "$REQUESTS" "$MAX_TOKENS" <<'PY'
import json, sys, threading, time, urllib.request

url, clients, requests, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def one(i):
    body = json.dumps({"prompt": f"Fortune {i}:", "max_tokens": max_tokens, "temperature": 0.8, "seed": i}).encode()
    req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as r:
        reply = json.load(r)
    return time.perf_counter() - start, reply["usage"]["completion_tokens"]

def load(concurrency):
    latencies, tokens, lock = [], [0], threading.Lock()
    def client(c):
        for k in range(requests):
            seconds, n = one(c * requests + k)
            with lock:
                latencies.append(seconds)
                tokens[0] += n
    threads = [threading.Thread(target=client, args=(c,)) for c in range(concurrency)]
    start = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"concurrency": concurrency, "requests": len(latencies), "max_tokens": max_tokens,
            "wall_s": round(wall, 3), "requests_per_s": round(len(latencies) / wall, 2),
            "tokens_per_s": round(tokens[0] / wall, 1), "p50_s": round(pick(0.50), 4), "p99_s": round(pick(0.99), 4)}

one(0)  # warm-up (oneDNN's first calls)
for concurrency in (1, clients):
    print(json.dumps(load(concurrency)), flush=True)
health = json.load(urllib.request.urlopen(url + "/health"))
print(json.dumps({"server": health}))
PY
