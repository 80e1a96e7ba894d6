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
