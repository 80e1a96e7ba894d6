# A run trained with parallel.precision = bf16 is decoded in bf16 by `tessera generate` and `tessera serve`
# (--precision auto, the default), in fp32 on request; greedy text in bf16 agrees with fp32, and serve's
# greedy text equals generate's in each precision.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 60 --set parallel.precision=bf16 --quiet \
  2>"$WORK/train.err" || {
  grep -q "bf16" "$WORK/train.err" && { echo "skip: this CPU has no bf16 matmul: $(cat "$WORK/train.err")"; exit 77; }
  fail "train: $(cat "$WORK/train.err")"
}
PY=$(command -v /usr/bin/python3 || command -v python3)
agree=0
prompts=("The meaning of life" "A computer" "Love is" "Q: What")
for p in "${prompts[@]}"; do
  "$TESSERA" generate "$WORK/run" --prompt "$p" --max-tokens 12 --temperature 0 >"$WORK/bf16.txt"
  "$TESSERA" generate "$WORK/run" --prompt "$p" --max-tokens 12 --temperature 0 --precision fp32 >"$WORK/fp32.txt"
  cmp -s "$WORK/bf16.txt" "$WORK/fp32.txt" && agree=$((agree + 1))
done
# Measured here: all 4 agree; a model at the edge between two tokens may flip one, never most of them.
[ "$agree" -ge 3 ] || fail "bf16 greedy text agrees with fp32 for only $agree of ${#prompts[@]} prompts"
echo "ok: bf16 greedy text equals fp32's for $agree of ${#prompts[@]} prompts"

for precision in auto fp32; do
  "$TESSERA" serve "$WORK/run" --port 0 --precision "$precision" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  server=$!
  for _ in $(seq 300); do grep -q "listening on" "$WORK/serve.out" && break; sleep 0.1; done
  want=$([ "$precision" = auto ] && echo bf16 || echo fp32)
  grep -q "$want matmuls" "$WORK/serve.out" || { kill $server; fail "serve --precision $precision: $(cat "$WORK/serve.out" "$WORK/serve.err")"; }
  url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$WORK/serve.out")
  curl -s --data-binary '{"prompt": "A computer", "max_tokens": 12, "temperature": 0}' "$url/v1/completions" >"$WORK/reply.json"
  kill -TERM $server
  wait $server || fail "serve exited with $?"
  { printf 'A computer'; "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"])' "$WORK/reply.json"; } >"$WORK/serve.txt"
  "$TESSERA" generate "$WORK/run" --prompt "A computer" --max-tokens 12 --temperature 0 --precision "$precision" >"$WORK/generate.txt"
  cmp -s "$WORK/serve.txt" "$WORK/generate.txt" || fail "serve ($precision) and generate differ: '$(cat "$WORK/serve.txt")' vs '$(cat "$WORK/generate.txt")'"
  echo "ok: serve --precision $precision runs $want matmuls and equals generate"
done
expect_error "--precision: expected one of auto, fp32, bf16, found 'fp16'" "$TESSERA" generate "$WORK/run" --precision fp16
