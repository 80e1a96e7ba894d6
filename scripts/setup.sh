#!/usr/bin/env bash
# Installs Tessera's dependencies from Debian packages (idempotent: apt runs only for what is missing) and
# builds build/tessera (Release, CMake + Ninja). Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

packages=(
  cmake ninja-build g++ pkg-config                    # toolchain
  libgtest-dev libgmock-dev libbenchmark-dev          # tests and micro-benchmarks
  libdnnl-dev ocl-icd-opencl-dev                      # oneDNN: fp32/bf16 matmul (its CMake config requires OpenCL)
  libopenmpi-dev openmpi-bin                          # Open MPI
  libsentencepiece-dev sentencepiece                  # tokenizer
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev libxxhash-dev libzstd-dev
  fortunes fortunes-min                               # the demo corpus: English text
  python3-torch python3-numpy libopenblas0-openmp     # the PyTorch golden test and peer benchmark
  chromium                                            # renders `tessera report` pages in their test (headless)
  libcpp-httplib-dev curl                             # tessera serve's HTTP server; its tests' client
  python3-prometheus-client                           # parses train.metrics_port's scrapes in their test
  slurm-wlm munge                                     # the Slurm test starts a one-node cluster on loopback
  clang libclang-rt-14-dev                            # libFuzzer targets of the parsers (scripts/fuzz.sh, ctest fuzz.parsers)
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)  # installs node-llama-cpp for the GGUF test (a newer node's own npm is kept)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"$(nproc)"
echo "setup: built build/tessera"
