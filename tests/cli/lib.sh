# Shared helpers for the CLI tests. Each test script is called as: SCRIPT TESSERA_BIN TEST_DATA_DIR SOURCE_DIR
set -euo pipefail
TESSERA="$1"
TEST_DATA="$2"
SRC="$3"
FORTUNES="$TEST_DATA/fortunes"
WORK="$(mktemp -d)"
# At exit, whatever still runs with this test's directory on its command line (a rank of a job the test gave
# up on, e.g. one left spinning after its launcher went) is killed before the directory goes: a failed test
# must not leave processes behind for the next ones to share the cores with.
cleanup_work() {
  pkill -KILL -f -- "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_work EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_error "substring" command...: the command must exit non-zero, print one line containing the
# substring on stderr, and not crash (exit code 1, not a signal).
expect_error() {
  local want="$1"
  shift
  local rc=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure with '$want', but '$*' succeeded"
  [ "$rc" -lt 128 ] || fail "'$*' crashed with exit code $rc: $(cat "$WORK/err.txt")"
  grep -qF -- "$want" "$WORK/err.txt" || fail "expected '$want' in stderr of '$*', got: $(cat "$WORK/err.txt")"
  echo "ok: $* -> $(grep -F -- "$want" "$WORK/err.txt" | head -1)"
}

# export_parameters RUN STEP: the parameters of $WORK/RUN's committed checkpoint at STEP (8 digits) as
# $WORK/RUN.safetensors, for comparing runs bit for bit.
export_parameters() {
  "$TESSERA" ckpt export "$WORK/$1/checkpoints/step_$2" --out "$WORK/$1.safetensors" >/dev/null ||
    fail "cannot export $WORK/$1/checkpoints/step_$2"
}

# same_final_parameters CLEAN RUN STEP: RUN's checkpoint at STEP holds the parameters of CLEAN's, bit for bit.
same_final_parameters() {
  export_parameters "$1" "$3"
  export_parameters "$2" "$3"
  cmp -s "$WORK/$1.safetensors" "$WORK/$2.safetensors" || fail "$2: final parameters differ from $1's"
  echo "ok: $2: final parameters bit-identical to $1's"
}
