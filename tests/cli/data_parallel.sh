# Data parallelism over MPI: `mpirun -n 2 tessera train --set parallel.dp=2` with micro-batch 4 trains the
# same global batches as one rank with micro-batch 8 — the losses agree to fp32 reduction-order noise —
# on both dp backends (parallel.comm_backend = shm: the shared-memory reduction; mpi: Open MPI's), and
# the shm run's checkpoint resumes under the other layout (one rank). Gradient accumulation (one rank, 2
# micro-batches of 4) trains the same global batches too.
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/one" --steps 20 --quiet --set train.threads=1
mpirun -n 2 "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/two" --steps 20 --stop-at-step 10 --quiet \
  --set parallel.dp=2 --set train.micro_batch=4 --set train.threads=1 --set parallel.comm_backend=shm 2>"$WORK/two.log"
[ -f "$WORK/two/checkpoints/step_00000010/COMMIT" ] || fail "the 2-rank run wrote no checkpoint"
grep -q "comm: dp axis of 2 ranks on shm (parallel.comm_backend = shm), deadline 300 s, flight recorder dumps in $WORK/two" \
  "$WORK/two.log" || fail "the shm run does not report its dp backend: $(cat "$WORK/two.log")"
mpirun -n 2 "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/two_mpi" --steps 20 --quiet \
  --set parallel.dp=2 --set train.micro_batch=4 --set train.threads=1 --set parallel.comm_backend=mpi \
  --set parallel.comm_timeout_s=60 2>"$WORK/two_mpi.log"
grep -q "comm: dp axis of 2 ranks on mpi (parallel.comm_backend = mpi), deadline 60 s" "$WORK/two_mpi.log" ||
  fail "the mpi run does not report its dp backend: $(cat "$WORK/two_mpi.log")"
# Gradient accumulation: 2 micro-batches of 4 per step on one rank.
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/accum" --steps 20 --quiet --set train.threads=1 \
  --set train.micro_batch=4 --set train.global_batch=8
# Resume the 2-rank checkpoint on one rank (the same global batch of 8).
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/two" --steps 20 --resume --quiet --set train.threads=1
python3 - "$WORK/one/metrics.jsonl" "$WORK/two/metrics.jsonl" "$WORK/accum/metrics.jsonl" "$WORK/two_mpi/metrics.jsonl" <<'PY'
import json, sys
one = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
for name, path in (("dp=2 on shm then dp=1", sys.argv[2]), ("2 accumulated micro-batches", sys.argv[3]),
                   ("dp=2 on mpi", sys.argv[4])):
    other = {r["step"]: r for r in map(json.loads, open(path))}
    assert sorted(other) == list(range(1, 21)), sorted(other)
    worst = max(abs(one[s]["loss"] - other[s]["loss"]) / one[s]["loss"] for s in one)
    assert worst < 1e-5, "%s: losses differ by %.2e relative" % (name, worst)
    assert abs(one[20]["val_loss"] - other[20]["val_loss"]) < 1e-4, (name, one[20]["val_loss"], other[20]["val_loss"])
    print("ok: %s agrees with one rank over 20 steps; worst relative loss difference %.1e" % (name, worst))
PY
# A layout that does not match the job is refused on every rank, and the job ends instead of hanging.
expect_error "!= the 2 ranks of this job; hint: set --set parallel.dp=2" \
  timeout 60 mpirun -n 2 "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/bad" --quiet
# A backend that does not exist: one line naming the key, the choices and the value.
expect_error "parallel.comm_backend: expected one of auto, mpi, shm, hier, found \"nccl\"" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/bad" --set parallel.comm_backend=nccl
expect_error "parallel.comm_timeout_s: expected a positive number of seconds, found -1" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/bad" --set parallel.comm_timeout_s=-1
