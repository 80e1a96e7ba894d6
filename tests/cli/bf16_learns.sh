# Mixed precision: tests/configs/test_tiny.toml trained on fortunes for 300 steps with
# parallel.precision = bf16 learns like fp32: the first losses agree within 1e-2 relative (same init, same
# data), the final validation losses within 0.1, and the bf16 run clears learns_fortunes.sh's bound
# ln(V) - 2 = 5.62. The bf16 run must also differ from fp32 (the setting is not ignored).
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
for precision in fp32 bf16; do
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/$precision" --steps 300 \
    --set train.eval_every=100 --set train.ckpt_every=0 --set parallel.precision=$precision --quiet
done
grep -q "precision = 'bf16'" "$WORK/bf16/config.toml" || fail "resolved config does not record precision = bf16"
/usr/bin/python3 - "$WORK/fp32/metrics.jsonl" "$WORK/bf16/metrics.jsonl" <<'PY'
import json, math, sys
fp32, bf16 = ([json.loads(line) for line in open(path)] for path in sys.argv[1:3])
val = lambda rows: [r["val_loss"] for r in rows if "val_loss" in r]
print("first loss fp32 %.5f bf16 %.5f; val fp32 %s bf16 %s" % (fp32[0]["loss"], bf16[0]["loss"], val(fp32), val(bf16)))
assert abs(bf16[0]["loss"] - fp32[0]["loss"]) < 1e-2 * fp32[0]["loss"], "step-0 losses differ by more than 1%"
assert [r["loss"] for r in bf16] != [r["loss"] for r in fp32], "bf16 run is bit-identical to fp32: precision ignored?"
assert abs(val(bf16)[-1] - val(fp32)[-1]) < 0.1, "final val loss bf16 %.3f vs fp32 %.3f" % (val(bf16)[-1], val(fp32)[-1])
assert val(bf16)[-1] < math.log(2048) - 2.0, "bf16 val loss %.3f not below ln V - 2" % val(bf16)[-1]
PY
