#!/usr/bin/env bash
# Installs what is missing (Debian packages only) and builds pebench into build/.
# usage: jobs/build.sh [CMAKE_TARGET...]   (no target: everything, tests included)
# Which LibTorch, first found:
#   TORCH_DIR=DIR   a LibTorch folder (the unzipped libtorch/, or a prefix holding
#                   share/cmake/Torch, or that cmake folder itself)
#   a pip torch     of ${PYTHON:-python3}: torch.utils.cmake_prefix_path (torch 2.x, CPU or CUDA)
#   Debian's        libtorch-dev 1.13 (CPU), installed when missing
# BUILD_DIR (default build/): a folder configured for another LibTorch is reconfigured from scratch.
# Not on Debian, or without root or passwordless sudo (a cluster): load CMake, a C++
# compiler, OpenMPI, parallel HDF5 and Boost as modules first; nothing is installed
# (README "GPU clusters").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}

torch_prefix=""  # a CMAKE_PREFIX_PATH entry holding Torch/TorchConfig.cmake; empty: Debian's
if [[ -n ${TORCH_DIR:-} ]]; then
  for candidate in "$TORCH_DIR/share/cmake" "$TORCH_DIR" "$(dirname "$TORCH_DIR")"; do
    if [[ -f $candidate/Torch/TorchConfig.cmake ]]; then torch_prefix=$(cd "$candidate" && pwd); break; fi
  done
  if [[ -z $torch_prefix ]]; then
    echo "jobs/build.sh: TORCH_DIR=$TORCH_DIR holds no share/cmake/Torch/TorchConfig.cmake; allowed: a LibTorch folder, or a pip torch's torch.utils.cmake_prefix_path" >&2
    exit 2
  fi
elif pip_prefix=$("${PYTHON:-python3}" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) &&
     [[ -f $pip_prefix/Torch/TorchConfig.cmake ]]; then
  torch_prefix=$pip_prefix  # Debian's python3-torch ships no CMake files: skipped here
fi

# libopenblas0-openmp: without it Debian's LibTorch falls back to reference BLAS (~15x slower).
packages=(cmake g++ make libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
          libboost-program-options-dev libgtest-dev libsentencepiece-dev python3-h5py python3-numpy)
[[ -z $torch_prefix ]] && packages+=(libtorch-dev libopenblas0-openmp)
if command -v dpkg-query > /dev/null && command -v apt-get > /dev/null; then
  missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  if ((${#missing[@]})) && [[ -n $sudo ]] && ! sudo -n true 2> /dev/null; then
    # A cluster login node on Debian or Ubuntu: no root, so the modules must provide these.
    echo "pebench: not installing ${missing[*]} (no root or passwordless sudo); using the CMake, compiler, MPI, HDF5 and Boost on PATH (modules)"
  elif ((${#missing[@]})); then
    echo "pebench: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  fi
else
  echo "pebench: no apt here; using the CMake, compiler, MPI, HDF5 and Boost on PATH (modules)"
fi

# The LibTorch the build folder was configured with (Debian's: /usr/lib/<arch>/cmake/Torch).
cached=$(sed -n 's/^Torch_DIR:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ -n $cached ]]; then
  if [[ -n $torch_prefix && $cached != "$torch_prefix/Torch" ]] || [[ -z $torch_prefix && $cached != /usr/lib/* ]]; then
    echo "pebench: $build was configured for $cached; reconfiguring for ${torch_prefix:-the Debian LibTorch}"
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  fi
fi
cmake_args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release)
# A pip torch's prefix goes first: given only Torch_DIR, CMake found Debian's libtorch.so.
[[ -n $torch_prefix ]] && cmake_args+=(-DCMAKE_PREFIX_PATH="$torch_prefix" -DTorch_DIR="$torch_prefix/Torch")
mkdir -p "$build"
if ! cmake "${cmake_args[@]}" > "$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  echo "jobs/build.sh: configuring failed (log above, and in $build/configure.log)" >&2
  exit 1
fi
grep -h "LibTorch " "$build/configure.log" || true
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
