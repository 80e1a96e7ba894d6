#!/bin/bash
# private_shm.sh [--two-hosts] TEST_BINARY: runs TEST_BINARY's HostDetection tests on ranks of this one
# machine where some ranks have a /dev/shm of their own (a private mount namespace): the same hostname and
# boot id, but no shared memory with the others — containers on one host.
#   default       3 ranks; rank 2 alone in its namespace: host detection must see two hosts, never hang.
#   --two-hosts   4 ranks; ranks 2 and 3 share a second namespace: two hosts of two ranks, so the hier
#                 backend runs its inter-host path.
# Needs `unshare -m` and `nsenter` (root); exits 77 (skipped) without them.
set -euo pipefail
if [[ "${1:-}" == --rank ]]; then
  shift
  rank="${OMPI_COMM_WORLD_RANK}"
  if [[ "$rank" == 2 ]]; then
    exec unshare -m sh -c 'mount -t tmpfs tmpfs /dev/shm && echo $$ > "$TESSERA_TEST_NS_DIR/ns.pid" && exec "$0" "$@"' "$@"
  fi
  if [[ "$rank" == 3 && -n "${TESSERA_TEST_TWO_HOSTS:-}" ]]; then
    for _ in $(seq 100); do [[ -s "$TESSERA_TEST_NS_DIR/ns.pid" ]] && break; sleep 0.1; done
    exec nsenter --mount="/proc/$(cat "$TESSERA_TEST_NS_DIR/ns.pid")/ns/mnt" -- "$@"
  fi
  exec "$@"
fi
ranks=3
if [[ "${1:-}" == --two-hosts ]]; then
  shift
  ranks=4
  export TESSERA_TEST_TWO_HOSTS=1
else
  export TESSERA_TEST_PRIVATE_SHM_RANK=2
fi
binary="$(realpath "$1")"
if ! unshare -m true 2>/dev/null || ! command -v nsenter >/dev/null; then
  echo "private_shm: skipped: unshare -m / nsenter are not permitted here"
  exit 77
fi
TESSERA_TEST_NS_DIR="$(mktemp -d)"
export TESSERA_TEST_NS_DIR
trap 'rm -rf "$TESSERA_TEST_NS_DIR"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# TCP between the ranks: Open MPI's own shared-memory transport would need the shared /dev/shm too.
mpirun -n "$ranks" --oversubscribe --mca btl self,tcp bash "$0" --rank "$binary" --gtest_filter='HostDetection.*'
