# Learning: training on real English text (fortunes, 2048-token BPE) lowers the validation loss from
# ln(V) = 7.62 at initialisation to well below it. Two bounds after 300 steps (~150k tokens):
#   val_loss < ln(V) - 2 = 5.62, and
#   val_loss < H_unigram - 0.5, where H_unigram is the cross-entropy of the val split under the train
#   split's token frequencies (~6.34 here): the model must have learned context, not just frequencies.
# Observed: 5.47 (docs/training.md).
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/learn" --steps 300 \
  --set train.eval_every=100 --set train.ckpt_every=0 --quiet 2>"$WORK/log.txt"
# The first log line names the MFU peak and its source (probed on this machine).
grep -q "MFU peak [0-9.]* GFLOP/s (probed: fp32 FMA loop" "$WORK/log.txt" || fail "no probed MFU peak in: $(head -1 "$WORK/log.txt")"
/usr/bin/python3 - "$WORK/learn/metrics.jsonl" "$FORTUNES" <<'PY'
import json, math, sys
import numpy as np
rows = [json.loads(line) for line in open(sys.argv[1])]
val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
first_loss = rows[0]["loss"]
# Shards: a 64-byte header, then u16 tokens for a 2048 vocabulary (docs/data_format.md).
train = np.fromfile(sys.argv[2] + "/train_000.bin", dtype=np.uint16, offset=64)
held_out = np.fromfile(sys.argv[2] + "/val_000.bin", dtype=np.uint16, offset=64)
counts = np.bincount(train, minlength=2048) + 1.0
unigram = float(-np.log(counts[held_out] / counts.sum()).mean())
bound = min(math.log(2048) - 2.0, unigram - 0.5)
print("first train loss %.3f, val losses %s, unigram %.3f, bound %.3f" % (first_loss, val, unigram, bound))
assert abs(first_loss - math.log(2048)) < 0.3, "initial loss should be ~ln V"
assert val[-1][1] < bound, "validation loss %.3f not below %.3f" % (val[-1][1], bound)
assert val[-1][1] < val[0][1], "validation loss did not decrease"
for r in rows:
    for key in ("step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu", "mfu_peak_gflops"):
        assert key in r, key
    assert 0 < r["mfu"] <= 1.0 and r["mfu_peak_gflops"] > 0, r
PY
