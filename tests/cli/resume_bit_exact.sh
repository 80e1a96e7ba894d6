# Resume is bit-exact: 20 steps straight == 10 steps, stop, resume, 10 more — byte for byte for the
# parameters and the AdamW moments (the whole checkpoint data file), and equal scalars (step, loader position).
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/straight" --steps 20 --quiet
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 20 --stop-at-step 10 --quiet
[ -f "$WORK/split/checkpoints/step_00000010/COMMIT" ] || fail "no committed checkpoint at step 10"
[ ! -e "$WORK/split/checkpoints/step_00000020" ] || fail "the split run went past --stop-at-step"
# Without --resume an existing run is never overwritten.
expect_error "already has checkpoints; hint: pass --resume" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 20
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 20 --resume --quiet
a="$WORK/straight/checkpoints/step_00000020/rank_00000.bin"
b="$WORK/split/checkpoints/step_00000020/rank_00000.bin"
[ -s "$a" ] && [ -s "$b" ] || fail "missing final checkpoints"
cmp "$a" "$b" || fail "resumed run differs from the straight run"
# The scalars (step, loader position, config) live in the manifest: they must agree too.
scalars() { "$TESSERA" ckpt inspect "$1" | sed -n '/^scalars/,$p' | grep -v "^  \(model\|optim\)\."; }
diff <(scalars "$WORK/straight") <(scalars "$WORK/split") || fail "checkpoint scalars differ"
scalars "$WORK/split" | grep -q "loader.train.next_sample  i64     160" || fail "loader position is not 20 steps x 8 samples"
# And the loss curves agree step by step after the resume point (timings aside).
python3 - "$WORK/straight/metrics.jsonl" "$WORK/split/metrics.jsonl" <<'PY'
import json, sys
straight = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
split = {r["step"]: r for r in map(json.loads, open(sys.argv[2]))}
assert sorted(split) == list(range(1, 21)), sorted(split)
for step in range(1, 21):
    assert straight[step]["loss"] == split[step]["loss"], (step, straight[step]["loss"], split[step]["loss"])
    assert straight[step]["grad_norm"] == split[step]["grad_norm"], step
print("ok: 20 identical losses and grad norms")
PY
"$TESSERA" ckpt verify "$WORK/split" >/dev/null
# Checkpoints copy the state while the next step computes; under a 1 MiB staging budget (of ~2.8 MB of state)
# the copy goes a few tensors at a time as the write proceeds, and the update waits for the last one: step 15's
# checkpoint (taken while step 16 ran) must still hold step 15's state, byte for byte.
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/staged" --steps 20 --quiet --set train.ckpt_staging_mb=1
for step in 00000015 00000020; do
  cmp "$WORK/straight/checkpoints/step_$step/rank_00000.bin" "$WORK/staged/checkpoints/step_$step/rank_00000.bin" ||
    fail "the checkpoint of step $step under a 1 MiB staging budget differs from the unbounded run's"
done
echo "ok: checkpoints under a 1 MiB staging budget are byte-identical"
# ... and hold step 15's state, not step 16's: resumed from it, step 16 replays the logged loss (the trainer
# compares the first step after a restore) and the run ends where the straight one did.
rm -rf "$WORK/staged/checkpoints/step_00000020"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/staged" --steps 20 --resume --quiet --set train.ckpt_staging_mb=1
cmp "$WORK/straight/checkpoints/step_00000020/rank_00000.bin" "$WORK/staged/checkpoints/step_00000020/rank_00000.bin" ||
  fail "resumed from step 15's staged checkpoint, the run ends elsewhere"
expect_error "train.ckpt_staging_mb" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/bad" --set train.ckpt_staging_mb=-1
# Resuming with fewer steps than the run has done is refused before anything in it changes; resuming a run
# that is already at train.steps has nothing to do and changes nothing either.
cp "$WORK/split/config.toml" "$WORK/config.before"
expect_error "the run is at step 20, past train.steps = 10; hint: pass --steps N with N > 20" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 10 --resume
cmp "$WORK/split/config.toml" "$WORK/config.before" || fail "a refused resume rewrote config.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 20 --resume --set train.lr=1e-2 2>"$WORK/noop.log"
grep -q "already at train.steps = 20; nothing to do" "$WORK/noop.log" || fail "no-op resume: $(cat "$WORK/noop.log")"
cmp "$WORK/split/config.toml" "$WORK/config.before" || fail "a resume with nothing to do rewrote config.toml"
expect_error "--stop-at-step 15 is not after the checkpoint's step 20" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/split" --steps 30 --stop-at-step 15 --resume
echo "ok: resume is bit-exact"
