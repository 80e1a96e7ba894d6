#!/usr/bin/env bash
# Sets up (dependencies + build) and runs the whole test suite with ctest. This is README's second
# Quickstart command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure -j2 "$@"
