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
# dataset.json version 2 records every shard's size and checksums, and the whole directory verifies.
python3 - "$FORTUNES" <<'PY' || fail "dataset.json does not describe the shards"
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "dataset.json")))
assert m["version"] == 2, m["version"]
for split in ("train", "val"):
    for s in m["splits"][split]["shards"]:
        assert s["bytes"] == os.path.getsize(os.path.join(d, s["file"])), s
        assert s["checksum"].startswith("0x") and s["sample_checksum"].startswith("0x"), s
PY
"$TESSERA" data inspect --verify "$FORTUNES" >/dev/null || fail "the prepared fixture does not verify"
