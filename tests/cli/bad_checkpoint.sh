# Corrupt checkpoints are never trusted: resume and generate refuse a flipped byte or a truncated data
# file with one line naming the checkpoint; a missing COMMIT makes resume fall back to the previous one.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 10 --quiet
ckpt="$WORK/run/checkpoints/step_00000010"
cp -r "$WORK/run" "$WORK/flip"
python3 - "$WORK/flip/checkpoints/step_00000010/rank_00000.bin" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
data[1000] ^= 0x01
open(path, 'wb').write(bytes(data))
PY
expect_error "checksum" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/flip" --steps 20 --resume
expect_error "checksum" "$TESSERA" ckpt verify "$WORK/flip/checkpoints/step_00000010"
cp -r "$WORK/run" "$WORK/trunc"
truncate -s 5000 "$WORK/trunc/checkpoints/step_00000010/rank_00000.bin"
expect_error "step_00000010" "$TESSERA" generate "$WORK/trunc/checkpoints/step_00000010" --prompt "x"
# A committed checkpoint whose COMMIT is garbage is refused by name (not silently passed over, which would
# let the resumed run overwrite it); moved aside as the hint says, resume uses the previous one.
cp -r "$WORK/run" "$WORK/badcommit"
echo "garbage" >"$WORK/badcommit/checkpoints/step_00000010/COMMIT"
expect_error "newest committed checkpoint is unreadable" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/badcommit" --steps 12 --resume
[ "$(wc -l <"$WORK/badcommit/metrics.jsonl")" -eq 10 ] || fail "a refused resume changed metrics.jsonl"
mv "$WORK/badcommit/checkpoints/step_00000010" "$WORK/step_00000010.bad"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/badcommit" --steps 12 --resume --quiet 2>"$WORK/log2.txt"
grep -q "at step 5" "$WORK/log2.txt" || fail "resume did not use step 5 after the bad one was moved aside"
# An uncommitted newest checkpoint (a crash mid-save) is skipped: resume continues from step 5.
cp -r "$WORK/run" "$WORK/nocommit"
rm "$WORK/nocommit/checkpoints/step_00000010/COMMIT"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/nocommit" --steps 12 --resume --quiet 2>"$WORK/log.txt"
grep -q "at step 5" "$WORK/log.txt" || fail "resume did not fall back to step 5: $(cat "$WORK/log.txt")"
[ -f "$WORK/nocommit/checkpoints/step_00000012/COMMIT" ] || fail "resumed run did not finish"
"$TESSERA" ckpt verify "$ckpt" >/dev/null
