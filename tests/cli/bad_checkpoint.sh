# Corrupt checkpoints are never trusted: resume quarantines a newest checkpoint with a flipped byte or a
# garbage COMMIT (renamed aside to checkpoints/quarantine/, one line naming the file and chunk, an incident)
# and continues from the previous one; generate and verify refuse them with one line naming the checkpoint;
# a missing COMMIT (a crash mid-save) is not a checkpoint and resume falls back to the previous one.
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
expect_error "checksum" "$TESSERA" ckpt verify "$WORK/flip/checkpoints/step_00000010"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/flip" --steps 12 --resume --quiet 2>"$WORK/flip.log"
grep -q "quarantined step 10 to '$WORK/flip/checkpoints/quarantine/step_00000010.checksum'.*chunk 0.*rank_00000.bin.*fails its checksum" \
  "$WORK/flip.log" || fail "the corrupt checkpoint was not quarantined by name: $(cat "$WORK/flip.log")"
grep -q "resumed from '$WORK/flip/checkpoints/step_00000005' at step 5" "$WORK/flip.log" || fail "resume did not use step 5"
[ -f "$WORK/flip/checkpoints/quarantine/step_00000010.checksum/rank_00000.bin" ] || fail "the quarantined files are gone"
grep -q '"kind":"checkpoint_quarantined"' "$WORK/flip/incidents.jsonl" || fail "no incident recorded"
[ -f "$WORK/flip/checkpoints/step_00000012/COMMIT" ] || fail "the resumed run did not finish"
cp -r "$WORK/run" "$WORK/trunc"
truncate -s 5000 "$WORK/trunc/checkpoints/step_00000010/rank_00000.bin"
expect_error "step_00000010" "$TESSERA" generate "$WORK/trunc/checkpoints/step_00000010" --prompt "x"
# A checkpoint whose COMMIT is garbage is quarantined too (never overwritten by the resumed run's step 10).
cp -r "$WORK/run" "$WORK/badcommit"
echo "garbage" >"$WORK/badcommit/checkpoints/step_00000010/COMMIT"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/badcommit" --steps 12 --resume --quiet 2>"$WORK/log2.txt"
grep -q "at step 5" "$WORK/log2.txt" || fail "resume did not use step 5: $(cat "$WORK/log2.txt")"
ls "$WORK/badcommit/checkpoints/quarantine/" | grep -q "^step_00000010\." || fail "the bad checkpoint was not set aside"
grep -qx "garbage" "$WORK/badcommit/checkpoints/quarantine/"step_00000010.*/COMMIT || fail "the quarantined COMMIT changed"
# An uncommitted newest checkpoint (a crash mid-save) is skipped: resume continues from step 5.
cp -r "$WORK/run" "$WORK/nocommit"
rm "$WORK/nocommit/checkpoints/step_00000010/COMMIT"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/nocommit" --steps 12 --resume --quiet 2>"$WORK/log.txt"
grep -q "at step 5" "$WORK/log.txt" || fail "resume did not fall back to step 5: $(cat "$WORK/log.txt")"
[ -f "$WORK/nocommit/checkpoints/step_00000012/COMMIT" ] || fail "resumed run did not finish"
"$TESSERA" ckpt verify "$ckpt" >/dev/null
# A restore that loads but does not reproduce the interrupted run (here: the log says step 6 had another
# loss, as if the checkpoint held other state than the run had): the first step after the resume is
# compared with the log, the run stops with one line, and the checkpoint is quarantined, not trusted again.
cp -r "$WORK/run" "$WORK/replay"
rm -r "$WORK/replay/checkpoints/step_00000010"
python3 - "$WORK/replay/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    if r["step"] == 6:
        r["loss"] += 0.25
open(sys.argv[1], "w").write("".join(json.dumps(r) + "\n" for r in rows))
PY
expect_error "the restored state is not what was saved" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/replay" --steps 12 --resume
[ -d "$WORK/replay/checkpoints/quarantine/step_00000005.restore_mismatch" ] || fail "the checkpoint was not quarantined"
grep -q '"kind":"restore_mismatch"' "$WORK/replay/incidents.jsonl" || fail "no restore_mismatch incident"
