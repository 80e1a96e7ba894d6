# tessera serve: an OpenAI-style completion endpoint on loopback, checked with curl. Its greedy and
# sampled text equals `tessera generate`'s for the same prompt and seed, a stream carries the same text,
# concurrent requests are decoded together (and each still gets its own text), and bad requests get a
# 4xx JSON error that names the field.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 150 --quiet

"$TESSERA" serve "$WORK/run" --port 0 --slots 4 --max-body-bytes 65536 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; cleanup_work' EXIT
for _ in $(seq 300); do
  grep -q "listening on" "$WORK/serve.out" && break
  kill -0 $SERVER 2>/dev/null || fail "serve exited: $(cat "$WORK/serve.err")"
  sleep 0.1
done
URL=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$WORK/serve.out")
[ -n "$URL" ] || fail "no 'listening on http://127.0.0.1:PORT' line: $(cat "$WORK/serve.out")"
echo "ok: $(cat "$WORK/serve.out")"

# Debian's python3 (a pyenv shim in PATH can take seconds per start on a loaded machine).
PY=$(command -v /usr/bin/python3 || command -v python3)
# json FILE EXPR: a Python expression over the parsed body `j`.
json() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2, end='')" "$1"; }
# post NAME BODY: POST /v1/completions; the body goes to $WORK/NAME.json, the status code to stdout.
post() { curl -s -o "$WORK/$1.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$URL/v1/completions"; }

[ "$(curl -s "$URL/health" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = ok ] || fail "/health"
curl -s "$URL/v1/models" >"$WORK/models.json"
[ "$(json "$WORK/models.json" 'j["data"][0]["id"]')" = run ] || fail "/v1/models: $(cat "$WORK/models.json")"

# Greedy and sampled completions equal generate's continuation (generate prints prompt + text + newline).
check_same_as_generate() {  # NAME PROMPT MAX_TOKENS TEMPERATURE TOP_K SEED
  local code
  code=$(post "$1" "{\"prompt\": \"$2\", \"max_tokens\": $3, \"temperature\": $4, \"top_k\": $5, \"seed\": $6}")
  [ "$code" = 200 ] || fail "$1: HTTP $code: $(cat "$WORK/$1.json")"
  { printf '%s' "$2"; json "$WORK/$1.json" 'j["choices"][0]["text"]'; echo; } >"$WORK/$1.serve.txt"
  "$TESSERA" generate "$WORK/run" --prompt "$2" --max-tokens "$3" --temperature "$4" --top-k "$5" --seed "$6" \
    >"$WORK/$1.generate.txt"
  cmp -s "$WORK/$1.serve.txt" "$WORK/$1.generate.txt" ||
    fail "$1: serve and generate differ: serve '$(cat "$WORK/$1.serve.txt")', generate '$(cat "$WORK/$1.generate.txt")'"
  echo "ok: $1 equals generate: $(head -c 120 "$WORK/$1.serve.txt" | tr '\n\t' '  ')"
}
check_same_as_generate greedy "The meaning of life" 40 0 0 0
check_same_as_generate sampled "A computer" 40 0.9 40 7
json "$WORK/greedy.json" 'j["object"]' | grep -qx text_completion || fail "object is not text_completion"
[ "$(json "$WORK/greedy.json" 'j["usage"]["completion_tokens"]')" -ge 1 ] || fail "usage: $(cat "$WORK/greedy.json")"
# A max_tokens that the context cuts short ends with finish_reason "length" at the context (64 positions).
[ "$(post long '{"prompt": "The", "max_tokens": 64, "temperature": 0.9, "seed": 3}')" = 200 ] || fail "long"
[ "$(json "$WORK/long.json" 'j["choices"][0]["finish_reason"]')" != "" ] || fail "no finish_reason"

# The stream carries the same text as the plain response, then a finish_reason, then [DONE].
curl -sN -H 'Content-Type: application/json' --data-binary \
  '{"prompt": "A computer", "max_tokens": 40, "temperature": 0.9, "top_k": 40, "seed": 7, "stream": true}' \
  "$URL/v1/completions" >"$WORK/stream.txt"
"$PY" - "$WORK/stream.txt" "$WORK/sampled.json" <<'PY' || fail "stream differs from the plain response: $(head -c 600 "$WORK/stream.txt")"
import json, sys
events = [e for e in open(sys.argv[1]).read().split("\n\n") if e]
assert all(e.startswith("data: ") for e in events), events
assert events[-1] == "data: [DONE]", events[-1]
chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks)
plain = json.load(open(sys.argv[2]))
assert text == plain["choices"][0]["text"], (text, plain)
assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
print(f"ok: stream of {len(chunks)} events has the same text")
PY

# Six concurrent requests on four slots: decoded together (the scheduler saw several at once), and each
# gets the text it gets alone (greedy above; the sampled ones against their own sequential run).
for i in 1 2 3 4 5 6; do
  post "seq$i" "{\"prompt\": \"Fortune $i\", \"max_tokens\": 30, \"temperature\": 1.0, \"seed\": $i}" >/dev/null
done
clients=()
for i in 1 2 3 4 5 6; do
  post "par$i" "{\"prompt\": \"Fortune $i\", \"max_tokens\": 30, \"temperature\": 1.0, \"seed\": $i}" >"$WORK/par$i.code" &
  clients+=($!)
done
wait "${clients[@]}"
for i in 1 2 3 4 5 6; do
  [ "$(cat "$WORK/par$i.code")" = 200 ] || fail "concurrent request $i: HTTP $(cat "$WORK/par$i.code")"
  [ "$(json "$WORK/par$i.json" 'j["choices"][0]["text"]')" = "$(json "$WORK/seq$i.json" 'j["choices"][0]["text"]')" ] ||
    fail "concurrent request $i got other text than alone: $(cat "$WORK/par$i.json") vs $(cat "$WORK/seq$i.json")"
done
curl -s "$URL/health" >"$WORK/health.json"
[ "$(json "$WORK/health.json" 'j["max_active"]')" -ge 2 ] || fail "requests were never decoded together: $(cat "$WORK/health.json")"
echo "ok: 6 concurrent requests, same texts as alone; $(cat "$WORK/health.json")"

# Bad requests: a status and a JSON error naming the field.
expect_http() {  # STATUS PARAM MESSAGE_PART BODY
  local code
  code=$(post bad "$4")
  [ "$code" = "$1" ] || fail "expected HTTP $1 for $4, got $code: $(cat "$WORK/bad.json")"
  [ "$(json "$WORK/bad.json" 'j["error"]["param"] or ""')" = "$2" ] || fail "expected param '$2' for $4: $(cat "$WORK/bad.json")"
  json "$WORK/bad.json" 'j["error"]["message"]' | grep -qF -- "$3" || fail "expected '$3' for $4: $(cat "$WORK/bad.json")"
  echo "ok: $1 $(json "$WORK/bad.json" 'j["error"]["message"]')"
}
expect_http 400 "" "not valid JSON" '{"prompt": '
expect_http 400 "" "expected a JSON object, found an array of 1" '["x"]'
expect_http 400 prompt "'prompt': required, and missing" '{"max_tokens": 3}'
expect_http 400 prompt "'prompt': expected a string (or an array of one string), found the integer 5" '{"prompt": 5}'
expect_http 400 max_tokens "'max_tokens': expected an integer in [1, 64], found the integer 0" '{"prompt": "x", "max_tokens": 0}'
expect_http 400 max_tokens "found the number 2.5" '{"prompt": "x", "max_tokens": 2.5}'
expect_http 400 temperature "'temperature': expected a number in [0, 100], found a string" '{"prompt": "x", "temperature": "hot"}'
expect_http 400 top_k "'top_k': expected an integer" '{"prompt": "x", "top_k": -1}'
expect_http 400 seed "'seed': expected an integer" '{"prompt": "x", "seed": -2}'
expect_http 400 stream "'stream': expected true or false, found the integer 1" '{"prompt": "x", "stream": 1}'
expect_http 400 n "more than one choice per prompt is not supported" '{"prompt": "x", "n": 2}'
expect_http 400 stop "a stop sequence is not supported" '{"prompt": "x", "stop": "\n"}'
long_prompt=$("$PY" -c 'print(" ".join(["fortune"] * 200))')
expect_http 400 prompt "the model's context holds 64" "{\"prompt\": \"$long_prompt\"}"
head -c 70000 /dev/zero | tr '\0' 'x' >"$WORK/big.txt"
code=$(curl -s -o "$WORK/big.json" -w '%{http_code}' --data-binary @"$WORK/big.txt" "$URL/v1/completions")
[ "$code" = 413 ] || fail "oversize body: HTTP $code"
json "$WORK/big.json" 'j["error"]["message"]' | grep -qF "larger than the server's limit" || fail "413 body: $(cat "$WORK/big.json")"
echo "ok: 413 $(json "$WORK/big.json" 'j["error"]["message"]')"
code=$(curl -s -o "$WORK/nf.json" -w '%{http_code}' "$URL/v1/chat/completions")
[ "$code" = 404 ] && json "$WORK/nf.json" 'j["error"]["message"]' | grep -qF "no route GET /v1/chat/completions" ||
  fail "unknown path: HTTP $code $(cat "$WORK/nf.json")"
# Still serving after all that, and SIGTERM ends it cleanly.
[ "$(post after '{"prompt": "The meaning of life", "max_tokens": 40, "temperature": 0}')" = 200 ] || fail "after errors"
cmp -s "$WORK/after.json" "$WORK/greedy.json" || [ "$(json "$WORK/after.json" 'j["choices"][0]["text"]')" = \
  "$(json "$WORK/greedy.json" 'j["choices"][0]["text"]')" ] || fail "the greedy text changed after the errors"
# A second server on the same port is refused with the address in the message.
PORT=${URL##*:}
expect_error "cannot listen on 127.0.0.1:$PORT" "$TESSERA" serve "$WORK/run" --port "$PORT"
kill -TERM $SERVER
rc=0
wait $SERVER || rc=$?
[ "$rc" = 0 ] || fail "serve exited with $rc after SIGTERM: $(cat "$WORK/serve.err")"
grep -q "serve: stopped" "$WORK/serve.err" || fail "no stop line: $(cat "$WORK/serve.err")"
expect_error "--port: expected an integer in [0, 65535], found 70000" "$TESSERA" serve "$WORK/run" --port 70000
echo "ok: serve"
