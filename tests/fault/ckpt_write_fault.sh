# A write failure during a checkpoint save (issue 10) leaves the previous checkpoint committed and valid,
# nothing half-written is ever loaded, and the run resumes from the previous one. Faults come from
# TESSERA_FAULT (src/tessera/ckpt/write_fault.h): ENOSPC part-way through the data file of one rank, and
# EIO at the fsync of the manifest; on one process and on two ranks (a sharded save: rank 1's failure
# reaches rank 0 through its failure marker, and rank 0 commits nothing).
source "$(dirname "$0")/../cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cfg="$SRC/tests/configs/test_tiny.toml"

# check_previous RUN: step 5 is the newest committed checkpoint, it verifies, and step 10 left nothing.
check_previous() {
  local ckpts="$1/checkpoints"
  [ -f "$ckpts/step_00000005/COMMIT" ] || fail "step 5 is no longer committed in $ckpts: $(ls "$ckpts")"
  "$TESSERA" ckpt verify "$ckpts/step_00000005" >/dev/null || fail "step 5 does not verify after the failed save"
  [ ! -e "$ckpts/step_00000010" ] || fail "the failed save of step 10 left a committed-looking directory"
}

# One process: ENOSPC 4 KiB into rank_00000.bin of step 10.
TESSERA_FAULT='ckpt_write:file=rank_00000.bin,after=4096,errno=ENOSPC,step=10' \
  expect_error "step_00000010.tmp/rank_00000.bin': No space left on device (injected fault" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/one" --steps 10 --quiet
check_previous "$WORK/one"
[ ! -e "$WORK/one/checkpoints/step_00000010.tmp" ] || fail "the failed save did not remove its partial directory"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/one" --steps 10 --resume --quiet 2>"$WORK/resume.log"
grep -q "at step 5" "$WORK/resume.log" || fail "resume did not use step 5: $(cat "$WORK/resume.log")"
"$TESSERA" ckpt verify "$WORK/one/checkpoints/step_00000010" >/dev/null || fail "the resumed run's step 10 does not verify"

# Same process, EIO at the fsync of manifest.json.
TESSERA_FAULT='ckpt_write:file=manifest.json,op=fsync,errno=EIO,step=10' \
  expect_error "cannot fsync '$WORK/eio/checkpoints/step_00000010.tmp/manifest.json': Input/output error" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/eio" --steps 10 --quiet
check_previous "$WORK/eio"

# Two ranks, a sharded save: rank 1's data file fails; rank 0's save fails with rank 1's error.
TESSERA_FAULT='ckpt_write:file=rank_00001.bin,after=1000,errno=ENOSPC,step=10' \
  expect_error "rank_00001.bin': No space left on device" \
  mpirun -n 2 "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/two" --steps 10 --quiet \
  --set parallel.dp=2 --set train.micro_batch=4 --set train.threads=1
check_previous "$WORK/two"
echo "ok: ckpt write faults leave the previous checkpoint valid"
