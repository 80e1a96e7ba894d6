#!/bin/bash
# private_shm.sh TEST_BINARY: runs TEST_BINARY's HostDetection tests on 3 ranks of one machine where rank 2
# has a /dev/shm of its own (a private mount namespace): same hostname and boot id, no shared memory with
# ranks 0 and 1 — two containers on one host. Host detection must see two hosts and never hang.
# Needs `unshare -m` (root); exits 77 (skipped) without it.
set -euo pipefail
if [[ "${1:-}" == --rank ]]; then
  shift
  if [[ "${OMPI_COMM_WORLD_RANK}" == 2 ]]; then
    exec unshare -m sh -c 'mount -t tmpfs tmpfs /dev/shm && exec "$0" "$@"' "$@"
  fi
  exec "$@"
fi
binary="$1"
if ! unshare -m true 2>/dev/null; then
  echo "private_shm: skipped: unshare -m is not permitted here"
  exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TESSERA_TEST_PRIVATE_SHM_RANK=2
# TCP between the ranks: Open MPI's own shared-memory transport would need the shared /dev/shm too.
exec mpirun -n 3 --oversubscribe --mca btl self,tcp bash "$0" --rank "$binary" --gtest_filter='HostDetection.*'
