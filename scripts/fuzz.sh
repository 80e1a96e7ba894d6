#!/usr/bin/env bash
# libFuzzer runs of Tessera's parsers (tests/fuzz/fuzz_*.cc): the config reader, the token shard reader,
# the checkpoint manifest parser, the safetensors and GGUF readers and serve's request parsing. ctest runs it in a
# CI-sized form (fuzz.parsers: 10 s per target); longer runs by hand. It needs Debian's clang (scripts/setup.sh
# installs it) and builds the few sources each parser needs with ASan + UBSan into build-fuzz/ (--build DIR). Each target runs SECONDS (default 30) from its seed corpus
# tests/fuzz/corpus/<target>/ (read-only; new inputs go to a scratch directory). A crash leaves its input
# in build-fuzz/crashes/<target>/ and makes the script exit 1.
# Usage: scripts/fuzz.sh [--seconds N] [--build DIR] [TARGET...]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
SECONDS_EACH=30
OUT=build-fuzz
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --build) OUT="$2"; shift 2 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(config_reader token_shard ckpt_manifest safetensors gguf completion_request)

CXX=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$CXX" ]; then
  echo "fuzz.sh: installing clang (Debian)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang >/dev/null
  CXX=$(command -v clang++)
fi
bash scripts/setup.sh --no-build  # the libraries' headers (toml++, fmt, xxhash, nlohmann-json)

# The sources each target needs (a parser and what it calls), compiled once into objects.
declare -A sources=(
  [config_reader]="src/tessera/spec/config_reader.cc src/tessera/spec/model_spec.cc src/tessera/spec/parallel_plan.cc src/tessera/spec/pipeline_schedule.cc"
  [token_shard]="src/tessera/data/token_shard.cc"
  [ckpt_manifest]="src/tessera/ckpt/checkpoint_format.cc"
  [safetensors]="src/tessera/ckpt/safetensors_reader.cc"
  [gguf]="src/tessera/ckpt/gguf_reader.cc src/tessera/ckpt/safetensors_reader.cc"
  [completion_request]="src/tessera/serve/completion_request.cc"
)
core="src/tessera/core/status.cc src/tessera/core/file.cc src/tessera/core/hash.cc src/tessera/core/log.cc src/tessera/core/tensor.cc"
FLAGS="-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -Isrc -Itests/fuzz $(pkg-config --cflags tomlplusplus libxxhash fmt)"
LIBS="$(pkg-config --libs tomlplusplus libxxhash fmt)"
mkdir -p "$OUT/obj"
compile() {  # SOURCE → object path (rebuilt when the source is newer)
  local obj="$OUT/obj/$(echo "$1" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$1" -nt "$obj" ]; then
    $CXX $FLAGS -fsanitize=fuzzer-no-link -c "$1" -o "$obj"
  fi
  echo "$obj"
}
failed=0
for t in "${targets[@]}"; do
  [ -n "${sources[$t]:-}" ] || { echo "fuzz.sh: unknown target '$t' (known: ${!sources[*]})" >&2; exit 2; }
  objs=()
  for src in $core ${sources[$t]}; do objs+=("$(compile "$src")"); done
  $CXX $FLAGS -fsanitize=fuzzer "tests/fuzz/fuzz_$t.cc" "${objs[@]}" $LIBS -o "$OUT/fuzz_$t"
  scratch="$OUT/scratch/$t"; crashes="$OUT/crashes/$t"
  rm -rf "$scratch"; mkdir -p "$scratch" "$crashes"
  echo "fuzz.sh: $t for ${SECONDS_EACH}s"
  rc=0
  TESSERA_FUZZ_TMP="${TMPDIR:-/tmp}" "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" "$scratch" "tests/fuzz/corpus/$t" \
    >"$OUT/$t.log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log")
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: $t FAILED after ${runs:-?} runs (exit $rc); input in $crashes/, log $OUT/$t.log"
    grep -m3 -E "ERROR|SUMMARY|runtime error" "$OUT/$t.log" || true
    failed=1
  else
    echo "fuzz.sh: $t: ${runs:-?} runs, 0 crashes, corpus $(ls "$scratch" | wc -l) new inputs"
  fi
done
exit $failed
