# Shared helpers for the CLI tests. Each test script is called as: SCRIPT TESSERA_BIN TEST_DATA_DIR SOURCE_DIR
set -euo pipefail
TESSERA="$1"
TEST_DATA="$2"
SRC="$3"
FORTUNES="$TEST_DATA/fortunes"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

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
