#!/usr/bin/env bash
# golden.pytorch_* : golden_dump writes Tessera's results, check_against_torch.py recomputes them with PyTorch.
# Usage: run_golden.sh GOLDEN_DUMP_BIN BACKEND
set -euo pipefail
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$1" "$out" "$2"
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "FAIL: Debian's python3-torch is missing (scripts/setup.sh installs it)"; exit 1; }
/usr/bin/python3 "$(dirname "$0")/check_against_torch.py" "$out"
