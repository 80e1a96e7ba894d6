#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up, prepare a demo corpus (Debian's `fortunes`: ~2.5 MB of
# English text), train the `tiny` GPT on it, and sample text from the trained model.
# Usage: scripts/demo.sh [extra `tessera train` flags, e.g. --steps 100]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/setup.sh
data=data/fortunes
# Re-prepared unless it is a complete dataset of this version (an interrupted or older one is refused by
# inspect, and prepare replaces it).
if ! build/tessera data inspect "$data" >/dev/null 2>&1; then
  build/tessera data prepare --input /usr/share/games/fortunes --out "$data" --vocab-size 8192
fi
rm -rf runs/demo
build/tessera train configs/tiny.toml --data "$data" --out runs/demo "$@"
for seed in 1 2 3; do
  echo "--- sample $seed"
  build/tessera generate runs/demo --prompt "The meaning of life is" --max-tokens 60 --seed "$seed"
done
