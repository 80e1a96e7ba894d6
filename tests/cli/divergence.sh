# A diverging run (NaN loss) stops with one line before the update that would poison the parameters; the
# checkpoints already on disk stay finite and loadable, and the run directory is not rotated past them.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
expect_error "the run diverged" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 40 \
  --set train.lr=1000 --set train.grad_clip=0 --set train.warmup_steps=0
"$TESSERA" ckpt verify "$WORK/run" >/dev/null || fail "the last checkpoint before the divergence does not verify"
/usr/bin/python3 - "$WORK/run/metrics.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert rows, "no step was logged before the divergence"
for r in rows:
    assert r["loss"] is not None and math.isfinite(r["loss"]), r
print("ok: %d finite steps logged, then stopped" % len(rows))
PY
# A dataset without a val split (--val-fraction 0) trains, without validation.
"$TESSERA" data prepare --input /usr/share/games/fortunes/linux --out "$WORK/noval" --vocab-size 500 --val-fraction 0 >/dev/null
"$TESSERA" train "$cfg" --data "$WORK/noval" --out "$WORK/noval-run" --steps 3 --quiet --set model.vocab_size=500
! grep -q val_loss "$WORK/noval-run/metrics.jsonl" || fail "val_loss logged without a val split"
[ "$(wc -l <"$WORK/noval-run/metrics.jsonl")" -eq 3 ] || fail "expected 3 metric lines"
