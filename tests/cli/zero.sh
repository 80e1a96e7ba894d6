# ZeRO under mpirun: dp2 with parallel.zero_stage 1, 2 and 3, dp4 with ZeRO-3 (4 ranks on 2 cores,
# oversubscribed) and dp2 ZeRO-2 without overlap train the same 20 steps as one rank (same global batch of
# 8): per-step losses within 1e-5 relative, the same final validation loss. A ZeRO-3 dp2 checkpoint resumes
# under dp4 ZeRO-1 with the same losses. Bad layouts fail with one line on every rank, ranks started with
# different configs too.
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cfg="$SRC/tests/configs/test_tiny.toml"
common=(--data "$FORTUNES" --steps 20 --quiet --set train.threads=1 --set parallel.comm_timeout_s=60)
"$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/one"
for stage in 1 2 3; do
  mpirun -n 2 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/dp2_zero$stage" \
    --set parallel.dp=2 --set train.micro_batch=4 --set parallel.zero_stage=$stage 2>"$WORK/dp2_zero$stage.log"
done
grep -q "ZeRO-3" "$WORK/dp2_zero3.log" || fail "no per-rank memory report: $(cat "$WORK/dp2_zero3.log")"
mpirun -n 4 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/dp4_zero3" \
  --set parallel.dp=4 --set train.micro_batch=2 --set parallel.zero_stage=3
mpirun -n 2 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/dp2_zero2_serial" \
  --set parallel.dp=2 --set train.micro_batch=4 --set parallel.zero_stage=2 --set parallel.overlap_comm=false
# Saved by dp2 ZeRO-3 at step 10, resumed by dp4 ZeRO-1 (every rank reads the pieces it now owns).
mpirun -n 2 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/resharded" --stop-at-step 10 \
  --set parallel.dp=2 --set train.micro_batch=4 --set parallel.zero_stage=3
ls "$WORK/resharded/checkpoints/step_00000010/" | grep -q "rank_00001.bin" || fail "rank 1 wrote no shard file"
mpirun -n 4 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/resharded" --resume \
  --set parallel.dp=4 --set train.micro_batch=2 --set parallel.zero_stage=1
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
def rows(name):
    return {r["step"]: r for r in map(json.loads, open(f"{work}/{name}/metrics.jsonl"))}
one = rows("one")
for name in ("dp2_zero1", "dp2_zero2", "dp2_zero3", "dp4_zero3", "dp2_zero2_serial", "resharded"):
    other = rows(name)
    assert sorted(other) == list(range(1, 21)), (name, sorted(other))
    worst = max(abs(one[s]["loss"] - other[s]["loss"]) / one[s]["loss"] for s in one)
    assert worst < 1e-5, "%s: losses differ by %.2e relative" % (name, worst)
    assert abs(one[20]["val_loss"] - other[20]["val_loss"]) < 1e-4, (name, one[20]["val_loss"], other[20]["val_loss"])
    assert all(other[s]["comm_bytes"] > 0 for s in other), name
    print("ok: %s agrees with one rank over 20 steps; worst relative loss difference %.1e" % (name, worst))
PY
# Final parameters: every layout's step-20 checkpoint (written as shards by every rank) against one rank's.
for name in one dp2_zero1 dp4_zero3 resharded; do
  "$TESSERA" ckpt export "$WORK/$name/checkpoints/step_00000020" --out "$WORK/$name.safetensors" >/dev/null
done
python3 - "$WORK" <<'PY'
import array, json, struct, sys
def tensors(path):  # safetensors: u64 header length, JSON header, little-endian f32 data
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return {k: array.array("f", raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}
one = tensors(sys.argv[1] + "/one.safetensors")
for name in ("dp2_zero1", "dp4_zero3", "resharded"):
    other = tensors(f"{sys.argv[1]}/{name}.safetensors")
    assert sorted(other) == sorted(one), name
    worst = max(max(abs(a - b) for a, b in zip(one[k], other[k])) for k in one)
    # AdamW divides by sqrt(v): reduction-order differences of ~1e-7 in a gradient move a parameter by up
    # to ~lr·1e-3 over 20 steps.
    assert worst < 1e-4, "%s: final parameters differ by up to %.2e" % (name, worst)
    print("ok: %s final parameters within %.1e of one rank's" % (name, worst))
PY
# Bad layouts: one line naming the key and the values.
expect_error "parallel.zero_stage: expected 0, 1, 2 or 3, found 4" \
  "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/bad" --set parallel.zero_stage=4
expect_error "train.global_batch" \
  timeout 60 mpirun -q -n 2 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/bad" --set parallel.dp=2 \
  --set train.micro_batch=4 --set train.global_batch=12
# Ranks launched with different configs (MPMD): every rank stops with the same line naming the difference.
expect_error 'ranks were launched with different configs: rank 1 has `lr = 0.001  # peak learning rate` where rank 0 has `lr = 0.003' \
  timeout 60 mpirun -q -n 1 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/bad" --set parallel.dp=2 \
  --set train.micro_batch=4 : -n 1 "$TESSERA" train "$cfg" "${common[@]}" --out "$WORK/bad" --set parallel.dp=2 \
  --set train.micro_batch=4 --set train.lr=0.001
