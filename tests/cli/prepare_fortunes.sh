# Fixture: prepares Debian's fortunes corpus with a 2048-token BPE vocabulary for the other CLI tests.
source "$(dirname "$0")/lib.sh"
[ -d /usr/share/games/fortunes ] || fail "the fortunes package is not installed (scripts/setup.sh installs it)"
rm -rf "$FORTUNES"
mkdir -p "$TEST_DATA"
"$TESSERA" data prepare --input /usr/share/games/fortunes --out "$FORTUNES" --vocab-size 2048
for f in dataset.json tokenizer.model train_000.bin val_000.bin; do
  [ -s "$FORTUNES/$f" ] || fail "data prepare did not write $f"
done
# The whole fortunes corpus fits the default tokenizer sample budget, so the tokenizer saw every document.
grep -q '"tokenizer_sample"' "$FORTUNES/dataset.json" || fail "dataset.json does not record the tokenizer sample"
