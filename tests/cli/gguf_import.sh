# GGUF in and out without llama.cpp (issue 13; the llama.cpp side is tests/ecosystem/gguf_llama.sh):
#  - `ckpt inspect FILE.gguf` lists what `ckpt export --format gguf` wrote (src/tessera/ckpt/gguf_reader.h), and
#    `ckpt verify FILE.gguf` decodes every value (an infinity is named);
#  - `ckpt import FILE.gguf` → a run at step 0 whose greedy text equals the source run's (f32), and export →
#    import → export is byte-identical for f32 and f16; `train --resume` fine-tunes from the imported weights;
#  - bad input (a file that is not GGUF, a truncated GGUF, --set model.*, an existing run, --name off gguf)
#    fails with one line.
source "$3/tests/cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 20 --quiet

for type in f32 f16; do
  "$TESSERA" ckpt export "$WORK/run" --format gguf --type "$type" --name tiny --out "$WORK/$type.gguf" >/dev/null
  "$TESSERA" ckpt import "$WORK/$type.gguf" "$cfg" --data "$FORTUNES" --out "$WORK/imported_$type" >"$WORK/import.txt" ||
    fail "import of $type.gguf failed"
  grep -q "wrote $WORK/imported_$type/checkpoints/step_00000000: 28 tensors" "$WORK/import.txt" ||
    fail "unexpected import output: $(cat "$WORK/import.txt")"
  "$TESSERA" ckpt export "$WORK/imported_$type" --format gguf --type "$type" --name tiny --out "$WORK/again_$type.gguf" >/dev/null
  cmp "$WORK/$type.gguf" "$WORK/again_$type.gguf" || fail "export → import → export of $type is not byte-identical"
  echo "ok: $type: export → import → export byte-identical ($(stat -c %s "$WORK/$type.gguf") bytes)"
done

# What inspect shows of the f16 file: the architecture, the shape, the tokenizer and the tensors' types.
"$TESSERA" ckpt inspect "$WORK/f16.gguf" >"$WORK/inspect.txt"
for line in 'general.architecture +string +"gpt2"' 'general.name +string +"tiny"' 'general.file_type +u32 +1$' \
  'gpt2.context_length +u32 +64$' 'gpt2.block_count +u32 +2$' 'tokenizer.ggml.model +string +"llama"' \
  'tokenizer.ggml.tokens +\[string\] +2048 elements: "<unk>", "<s>", "</s>"' 'tokenizer.ggml.eos_token_id +u32 +2$' \
  '^tensors +28 ' 'token_embd.weight +f16 +\{64, 2048\} +262144 bytes at \+0$' 'blk.1.ffn_down.bias +f32 +\{64\} +256 bytes'; do
  grep -qE "$line" "$WORK/inspect.txt" || fail "ckpt inspect f16.gguf lacks /$line/: $(cat "$WORK/inspect.txt")"
done
echo "ok: ckpt inspect f16.gguf: $(sed -n 2p "$WORK/inspect.txt")"
# verify: the structure and every value finite; an infinity written over token_embd's first f16 is named.
"$TESSERA" ckpt verify "$WORK/f16.gguf" | grep -q "^OK: 28 tensors, .*28 f32/f16/bf16 tensors decoded, every value finite" ||
  fail "ckpt verify f16.gguf: $("$TESSERA" ckpt verify "$WORK/f16.gguf" 2>&1)"
/usr/bin/python3 - "$WORK/f16.gguf" "$WORK/inf.gguf" "$WORK/inspect.txt" <<'PY'
import re, sys
data = bytearray(open(sys.argv[1], "rb").read())
start = int(re.search(r"data from byte (\d+)", open(sys.argv[3]).read()).group(1))
data[start:start + 2] = b"\x00\x7c"  # f16 +inf, little-endian
open(sys.argv[2], "wb").write(bytes(data))
PY
expect_error "tensor 'token_embd.weight' (f16) element 0 is inf; expected a finite value" "$TESSERA" ckpt verify "$WORK/inf.gguf"

# The imported f32 weights are the source's: the same greedy text, and the same sampled text for a seed (which
# any change in the logits would alter; greedy text of a model this small is mostly newlines).
for args in "--temperature 0" "--temperature 1 --seed 7"; do
  "$TESSERA" generate "$WORK/run" --prompt "The" --max-tokens 30 $args >"$WORK/gen_source.txt"
  "$TESSERA" generate "$WORK/imported_f32" --prompt "The" --max-tokens 30 $args >"$WORK/gen_imported.txt"
  cmp "$WORK/gen_source.txt" "$WORK/gen_imported.txt" || fail "the imported GGUF generates differently ($args)"
done
echo "ok: imported from GGUF, greedy and sampled text equal the source's: $(head -c 40 "$WORK/gen_imported.txt" | tr '\n' ' ')"

# Fine-tune: the first loss is the trained model's (~6.x), not a fresh one's (~7.6).
"$TESSERA" train "$WORK/imported_f32/config.toml" --out "$WORK/imported_f32" --resume --steps 2 --quiet
first_loss="$(head -1 "$WORK/imported_f32/metrics.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')"
trained_loss="$(sed -n 20p "$WORK/run/metrics.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')"
/usr/bin/python3 -c "import sys; a, b = $first_loss, $trained_loss; sys.exit(0 if a < 7.0 and abs(a - b) < 0.5 else 1)" ||
  fail "fine-tune did not start from the imported weights: first loss $first_loss, source's last $trained_loss"
echo "ok: fine-tune from the GGUF: first loss $first_loss (source's last $trained_loss)"

expect_error "is a file but neither GGUF (magic 'GGUF') nor *.safetensors" "$TESSERA" ckpt inspect "$cfg"
head -c 40000 "$WORK/f16.gguf" >"$WORK/cut.gguf"  # inside the tokenizer arrays
expect_error "GGUF '$WORK/cut.gguf': key 'tokenizer.ggml." "$TESSERA" ckpt inspect "$WORK/cut.gguf"
expect_error "GGUF '$WORK/cut.gguf'" "$TESSERA" ckpt import "$WORK/cut.gguf" "$cfg" --data "$FORTUNES" --out "$WORK/x"
expect_error "the model's shape comes from '$WORK/f32.gguf'" \
  "$TESSERA" ckpt import "$WORK/f32.gguf" "$cfg" --data "$FORTUNES" --out "$WORK/y" --set model.n_layer=4
expect_error "already has checkpoints" "$TESSERA" ckpt import "$WORK/f32.gguf" "$cfg" --data "$FORTUNES" --out "$WORK/imported_f32"
# Another tokenizer's vocabulary (one byte piece renamed in the file) is refused by the id that differs.
/usr/bin/python3 - "$WORK/f32.gguf" "$WORK/foreign.gguf" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data.replace(b"<0x41>", b"<0xZZ>", 1))
PY
expect_error "was tokenized with another tokenizer: GGUF '$WORK/foreign.gguf' token 68 is '<0xZZ>'" \
  "$TESSERA" ckpt import "$WORK/foreign.gguf" "$cfg" --data "$FORTUNES" --out "$WORK/z"
expect_error "--name applies to --format gguf only" "$TESSERA" ckpt export "$WORK/run" --format hf --name x --out "$WORK/hf"
echo "ok: gguf import"
