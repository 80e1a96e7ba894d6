# Weights in and out through Hugging Face's GPT-2 format (issue 13):
#  - `ckpt export --format hf` → PyTorch (Debian's python3-torch) loads the directory into the PyTorch peer
#    model (../shared/bench/peer_torch_gpt.py) and reproduces Tessera's validation loss (hf_torch_check.py);
#  - `ckpt import` → a run at step 0 that `train --resume` fine-tunes; its greedy text equals the source's
#    (same weights); import → export is byte-identical in every file;
#  - bad input: refused targets, a foreign tokenizer, a run directory that already has checkpoints.
# Called as: hf_export.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR
source "$3/tests/cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
peer="$SRC/../shared/bench/peer_torch_gpt.py"
[ -f "$peer" ] || fail "the PyTorch peer model is missing at $peer (CI has ../shared beside the clone)"
/usr/bin/python3 -c "import torch, numpy" || fail "Debian's python3-torch and python3-numpy are needed (scripts/setup.sh installs them)"

"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 20 --quiet
"$TESSERA" ckpt export "$WORK/run" --format hf --out "$WORK/hf"
for f in model.safetensors config.json tokenizer.model tokenizer_config.json; do
  [ -s "$WORK/hf/$f" ] || fail "export --format hf wrote no $f"
done
cmp "$WORK/hf/tokenizer.model" "$FORTUNES/tokenizer.model" || fail "the exported tokenizer is not the run's"
/usr/bin/python3 "$SRC/tests/ecosystem/hf_torch_check.py" "$WORK/hf" "$WORK/run" "$peer"

# Import → a step-0 run with the same weights: greedy generation is the same text as the source's.
"$TESSERA" ckpt import "$WORK/hf" "$cfg" --data "$FORTUNES" --out "$WORK/tuned" >"$WORK/import.txt"
grep -q "step_00000000" "$WORK/import.txt" || fail "import did not report its checkpoint: $(cat "$WORK/import.txt")"
"$TESSERA" generate "$WORK/run" --prompt "The" --max-tokens 30 --temperature 0 >"$WORK/gen_source.txt"
"$TESSERA" generate "$WORK/tuned" --prompt "The" --max-tokens 30 --temperature 0 >"$WORK/gen_imported.txt"
cmp "$WORK/gen_source.txt" "$WORK/gen_imported.txt" || fail "imported weights generate differently"
# Round trip: export of the imported checkpoint is byte-identical, file by file.
"$TESSERA" ckpt export "$WORK/tuned" --format hf --out "$WORK/hf2" >/dev/null
for f in model.safetensors config.json tokenizer.model tokenizer_config.json; do
  cmp "$WORK/hf/$f" "$WORK/hf2/$f" || fail "import -> export changed $f"
done
# Fine-tune: train --resume continues from the imported weights (its first loss is the trained model's,
# far below a fresh model's ~ln(2048) = 7.6).
"$TESSERA" train "$WORK/tuned/config.toml" --out "$WORK/tuned" --resume --steps 3 --quiet
first_loss="$(head -1 "$WORK/tuned/metrics.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')"
trained_loss="$(sed -n 20p "$WORK/run/metrics.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')"
/usr/bin/python3 -c "import sys; a, b = $first_loss, $trained_loss; sys.exit(0 if a < 7.0 and abs(a - b) < 0.5 else 1)" ||
  fail "fine-tune did not start from the imported weights: first loss $first_loss, source's last $trained_loss"
[ -f "$WORK/tuned/checkpoints/step_00000003/COMMIT" ] || fail "the fine-tune did not checkpoint"

# Bad input, each one line naming the thing.
expect_error "already exists and is not empty; hint: pass --force" "$TESSERA" ckpt export "$WORK/run" --format hf --out "$WORK/hf"
"$TESSERA" ckpt export "$WORK/run" --format hf --out "$WORK/hf" --force >/dev/null
expect_error "is inside the checkpoint directory" \
  "$TESSERA" ckpt export "$WORK/run" --format hf --out "$WORK/run/checkpoints/step_00000020/hf"
expect_error "already has checkpoints" "$TESSERA" ckpt import "$WORK/hf" "$cfg" --data "$FORTUNES" --out "$WORK/tuned"
expect_error "the model's shape comes from" \
  "$TESSERA" ckpt import "$WORK/hf" "$cfg" --data "$FORTUNES" --out "$WORK/x" --set model.n_layer=4
cp -r "$WORK/hf" "$WORK/foreign"
printf 'x' >>"$WORK/foreign/tokenizer.model"
expect_error "was tokenized with another tokenizer" \
  "$TESSERA" ckpt import "$WORK/foreign" "$cfg" --data "$FORTUNES" --out "$WORK/y"
rm "$WORK/foreign/tokenizer.model"
expect_error "has no tokenizer.model" "$TESSERA" ckpt import "$WORK/foreign" "$cfg" --data "$FORTUNES" --out "$WORK/y"
sed -i 's/"gelu_new"/"relu"/' "$WORK/foreign/config.json"
expect_error "activation_function is \"relu\"" "$TESSERA" ckpt import "$WORK/foreign" "$cfg" --data "$FORTUNES" --out "$WORK/y"
[ ! -e "$WORK/y" ] || fail "a refused import created its run directory"
echo "ok: hf export/import"
