# Bad data directories: vocab mismatch, truncated shard, flipped byte — one line naming the file; exit 1.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
expect_error "vocab size 2048 > model.vocab_size 1000" "$TESSERA" train "$cfg" --data "$FORTUNES" --set model.vocab_size=1000 --out "$WORK/r"
expect_error "no such" "$TESSERA" train "$cfg" --data "$WORK/nothing" --out "$WORK/r"
cp -r "$FORTUNES" "$WORK/trunc"
size=$(stat -c %s "$WORK/trunc/train_000.bin")
truncate -s $((size - 100)) "$WORK/trunc/train_000.bin"
expect_error "train_000.bin" "$TESSERA" train "$cfg" --data "$WORK/trunc" --out "$WORK/r1"
cp -r "$FORTUNES" "$WORK/flip"
python3 - "$WORK/flip/train_000.bin" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
data[len(data) // 2] ^= 0x5A
open(path, 'wb').write(bytes(data))
PY
expect_error "checksum" "$TESSERA" train "$cfg" --data "$WORK/flip" --out "$WORK/r2"
# An interrupted re-prepare leaves no dataset.json (removed first, written last): shards without one
# are refused, not trained on.
cp -r "$FORTUNES" "$WORK/nomanifest"
rm "$WORK/nomanifest/dataset.json"
expect_error "dataset.json is missing, so the directory was not completely prepared (an interrupted tessera data prepare?); hint: run tessera data prepare --out $WORK/nomanifest again" \
  "$TESSERA" train "$cfg" --data "$WORK/nomanifest" --out "$WORK/r3"
expect_error "dataset.json is missing" "$TESSERA" data inspect "$WORK/nomanifest"
# A tokenizer.model other than the one the shards were made with is refused by train and inspect.
cp -r "$FORTUNES" "$WORK/newtok"
printf 'x' >>"$WORK/newtok/tokenizer.model"
expect_error "tokenizer.model does not match the tokenizer the shards were made with (dataset.json tokenizer_checksum " \
  "$TESSERA" train "$cfg" --data "$WORK/newtok" --out "$WORK/r4"
expect_error "tokenizer.model does not match" "$TESSERA" data inspect "$WORK/newtok"
# The tokenizer sample budget must be a positive size.
expect_error "--tokenizer-sample-mb 0 is not a positive size in MiB" \
  "$TESSERA" data prepare --input /usr/share/games/fortunes --out "$WORK/budget" --tokenizer-sample-mb 0
expect_error "--tokenizer-sample-mb -3 is not a positive size" \
  "$TESSERA" data prepare --input /usr/share/games/fortunes --out "$WORK/budget" --tokenizer-sample-mb -3
# Issue 7: shards were checked only in part. dataset.json (version 2) records each shard's size, token
# count, payload checksum and sample checksum, and every field is checked against the files.
# expect_line: expect_error, and stderr is that one line only.
expect_line() {
  expect_error "$@"
  [ "$(wc -l <"$WORK/err.txt")" -eq 1 ] || fail "more than one line on stderr of '${*:2}': $(cat "$WORK/err.txt")"
}
# val_000.bin copied over train_000.bin: a valid shard on its own, but not the train shard.
edit_manifest() {  # edit_manifest DIR PYTHON_STATEMENT_ON_m
  python3 - "$1/dataset.json" "$2" <<'PY'
import json, sys
path, statement = sys.argv[1], sys.argv[2]
m = json.load(open(path))
exec(statement)
open(path, 'w').write(json.dumps(m, indent=2, sort_keys=True) + "\n")
PY
}
cp -r "$FORTUNES" "$WORK/valcopy"
cp "$WORK/valcopy/val_000.bin" "$WORK/valcopy/train_000.bin"
expect_line "train_000.bin: size $(stat -c %s "$FORTUNES/val_000.bin") bytes in the file, dataset.json splits.train.shards[0].bytes expects $(stat -c %s "$FORTUNES/train_000.bin"); the file is not the shard tessera data prepare wrote here" \
  "$TESSERA" train "$cfg" --data "$WORK/valcopy" --out "$WORK/r5"
expect_line "train_000.bin: size" "$TESSERA" data inspect "$WORK/valcopy"
# Inspected on its own, the copied shard is valid, but not the one dataset.json describes.
expect_line "train_000.bin: size" "$TESSERA" data inspect "$WORK/valcopy/train_000.bin"
out=$("$TESSERA" data inspect "$FORTUNES/train_000.bin") || fail "inspect of a fixture shard failed: $out"
grep -q "validation: ok (every byte; matches .*/dataset.json)" <<<"$out" || fail "shard not checked against dataset.json: $out"
# Edited token counts (the split's total; a shard's count with its size kept consistent).
cp -r "$FORTUNES" "$WORK/tokens"
edit_manifest "$WORK/tokens" 'm["splits"]["train"]["tokens"] += 1'
expect_line "dataset.json splits.train.tokens: expected" "$TESSERA" train "$cfg" --data "$WORK/tokens" --out "$WORK/r6"
cp -r "$FORTUNES" "$WORK/tokens2"
edit_manifest "$WORK/tokens2" 's = m["splits"]["val"]["shards"][-1]; s["tokens"] -= 1; s["bytes"] -= 2; m["splits"]["val"]["tokens"] -= 1'
expect_line "val_000.bin: size" "$TESSERA" train "$cfg" --data "$WORK/tokens2" --out "$WORK/r7"
# A version this tessera does not read, older or newer.
cp -r "$FORTUNES" "$WORK/v7"
edit_manifest "$WORK/v7" 'm["version"] = 7'
expect_line "dataset.json version: expected 2, found 7: the directory was prepared by a newer tessera" \
  "$TESSERA" train "$cfg" --data "$WORK/v7" --out "$WORK/r8"
edit_manifest "$WORK/v7" 'm["version"] = 1'
expect_line "dataset.json version: expected 2, found 1: the directory was prepared by an older tessera" \
  "$TESSERA" data inspect "$WORK/v7"
grep -q "hint: run tessera data prepare --out $WORK/v7 again" "$WORK/err.txt" || fail "no re-prepare hint: $(cat "$WORK/err.txt")"
# A wrong vocab_size.
cp -r "$FORTUNES" "$WORK/vocab"
edit_manifest "$WORK/vocab" 'm["vocab_size"] = 2047'
expect_line "train_000.bin: vocab size 2048 in the file, dataset.json vocab_size expects 2047" \
  "$TESSERA" train "$cfg" --data "$WORK/vocab" --out "$WORK/r9"
# An unknown split name.
cp -r "$FORTUNES" "$WORK/split"
edit_manifest "$WORK/split" 'm["splits"]["test"] = m["splits"]["val"]'
expect_line "dataset.json splits.test: unknown split" "$TESSERA" train "$cfg" --data "$WORK/split" --out "$WORK/r10"
# A stray shard after a gap in the numbering.
cp -r "$FORTUNES" "$WORK/stray"
cp "$WORK/stray/train_000.bin" "$WORK/stray/train_005.bin"
expect_line "train_005.bin is not a shard dataset.json lists" "$TESSERA" train "$cfg" --data "$WORK/stray" --out "$WORK/r11"
expect_line "train_005.bin is not a shard dataset.json lists" "$TESSERA" data inspect "$WORK/stray"
# A byte flipped in the middle of a shard: train and inspect --verify read every byte and refuse it; plain
# inspect is the quick check (header, sizes, first/last 64 KiB) and says that it is.
out=$("$TESSERA" data inspect "$WORK/flip") || fail "quick inspect of a mid-shard flip failed: $out"
grep -q "validation: ok (quick: " <<<"$out" || fail "quick inspect does not say it was quick: $out"
expect_line "train_000.bin': payload checksum mismatch" "$TESSERA" data inspect --verify "$WORK/flip"
out=$("$TESSERA" data inspect --verify "$FORTUNES") || fail "inspect --verify of the fixture failed: $out"
grep -q "validation: ok (--verify: every byte" <<<"$out" || fail "inspect --verify does not say what it read: $out"
