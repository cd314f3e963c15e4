#!/usr/bin/env bash
# The model and encodings against another LibTorch, e.g. a CUDA one on a GPU machine that
# lacks the rest of pebench's stack (MPI, parallel HDF5, Boost libraries): builds
# tests/models/test_transformer.cpp with models/ and encodings/ and runs it, so its CUDA
# test (every encoding on the GPU against the CPU) runs where there is a device; then
# compiles the training and eval sources of harness/ (needs Boost headers) to check they
# build against that LibTorch too.
# usage: tests/models/cuda_check.sh LIBTORCH_DIR
#   LIBTORCH_DIR holds include/ and lib/: an unpacked LibTorch, or a pip torch's package
#   folder: python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))'
# CXX11_ABI=0 for a LibTorch built with the old ABI (default 1); GTEST_DIR (include/, lib/)
# where the system has no GoogleTest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
torch=${1:?usage: tests/models/cuda_check.sh LIBTORCH_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++17 -O1 -I"$root" -isystem "$torch/include" -isystem "$torch/include/torch/csrc/api/include"
  -D_GLIBCXX_USE_CXX11_ABI="${CXX11_ABI:-1}" -DPEBENCH_VERSION=\"check\" -include "$root/encodings/torch_pch.h")  # as CMake's precompiled header
[[ -n ${GTEST_DIR:-} ]] && flags+=(-isystem "$GTEST_DIR/include")
sources=("$root"/encodings/*.cpp "$root/models/transformer.cpp" "$root/tests/models/test_transformer.cpp")
jobs=$(nproc)
printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -I{} sh -c 'g++ "$@" -c {} -o '"$work"'/$(basename {}).o' _ "${flags[@]}"
libs=(-ltorch -ltorch_cpu -lc10)
[[ -e $torch/lib/libtorch_cuda.so ]] && libs=(-ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10)
g++ "$work"/*.o -o "$work/model_tests" -L"$torch/lib" -Wl,-rpath,"$torch/lib" -Wl,--no-as-needed "${libs[@]}" \
  -Wl,--as-needed ${GTEST_DIR:+-L"$GTEST_DIR/lib"} -lgtest -lgtest_main -pthread
"$work/model_tests"
# The harness sources that run on the device: compile only (their MPI and HDF5 callers
# are elsewhere).
printf '%s\n' "$root"/harness/{train,evaluate,data,tasks,study,plan}.cpp "$root"/harness/analyses/*.cpp "$root"/harness/tasks/*.cpp |
  xargs -P "$jobs" -I{} g++ "${flags[@]}" -fsyntax-only {}
echo "cuda_check: model tests passed and harness training/eval sources compile against $torch"
