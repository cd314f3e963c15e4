#!/usr/bin/env bash
# Installs what is missing (Debian packages only) and builds pebench into build/.
# usage: jobs/build.sh [CMAKE_TARGET...]   (no target: everything, tests included)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# libopenblas0-openmp: without it LibTorch falls back to reference BLAS (~15x slower).
packages=(cmake g++ make libtorch-dev libopenblas0-openmp libopenmpi-dev openmpi-bin
          libhdf5-openmpi-dev hdf5-tools libboost-program-options-dev libgtest-dev
          libsentencepiece-dev
          python3-h5py python3-numpy)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "pebench: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$root/build" -j"$(nproc)" "${targets[@]}"
