# Learning: training on real English text (fortunes, 2048-token BPE) lowers the validation loss from
# ln(V) = 7.62 at initialisation to well below it. Bound: val_loss < ln(V) - 2.5 = 5.12 after 300 steps
# (~150k tokens); observed ~4.6 (see docs/training.md), a unigram model of this corpus reaches ~5.9.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/learn" --steps 300 \
  --set train.eval_every=100 --set train.ckpt_every=0 --quiet
python3 - "$WORK/learn/metrics.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
first_loss = rows[0]["loss"]
bound = math.log(2048) - 2.5
print("first train loss %.3f, val losses %s, bound %.3f" % (first_loss, val, bound))
assert abs(first_loss - math.log(2048)) < 0.3, "initial loss should be ~ln V"
assert val[-1][1] < bound, "validation loss %.3f not below %.3f" % (val[-1][1], bound)
assert val[-1][1] < val[0][1], "validation loss did not decrease"
for r in rows:
    for key in ("step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"):
        assert key in r, key
PY
