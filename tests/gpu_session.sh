#!/usr/bin/env bash
# The correctness checks of issue 18 that need a GPU, in one call (the timings are
# bench/gpu_benchmarks.sh's): on the lent machine, after `bash tests/gpu_session.sh build &&
# source build-gpu/env.sh`:
#   bash tests/gpu_session.sh build-gpu
# 1. tests/models/cuda_check.sh: every encoding on CUDA against the CPU (logits, every
#    gradient, query-blocked eval), through the fused attention that CUDA runs use; the
#    fused-vs-explicit, clip and AdamW tests on that torch's CPU kernels.
# 1b. tests/harness/test_data.cpp built against build-gpu's objects with the CUDA
#    sync-debug test on (Cuda.*: no host wait between log points, for every encoding, fp32
#    and bf16; eval waits as often in 4 batches per length as in 1), then the training and
#    eval tests on that torch's CPU kernels.
# 2. Determinism: the quickstart twice on the device with each attention; `pebench merge`
#    of the two stores refuses, naming the dataset, unless every dataset but the timings is
#    equal bit for bit.
#    Where two runs differ, both again with --deterministic: equal then, or the op that
#    has no deterministic kernel named by torch.
# 3. Fused against explicit attention on the device: both compare tables, and each run's
#    compute strings (device, kernels, graph: `pebench inspect`).
# 2 and 3 also run the step captured in a CUDA graph (--attention fused
#    --train.cuda_graph auto): deterministic, and each run's compute string says graph=captured.
# The build: `bash tests/gpu_session.sh build` runs .gpu/device_build.sh with the CUDA
# runtime's headers on CPATH, so that harness/cuda_graph.cpp compiles its graphs in.
# usage: bash tests/gpu_session.sh BUILD_DIR [cuda|cpu]
#   cpu (with a torch 2.x build): steps 2 and 3 on the CPU, to check the script itself;
#   STEPS=20 shortens the study.
# GoogleTest for steps 1 and 1b, where the image lacks it: here, `bash tests/gpu_session.sh
# pack` copies Debian's headers and static libraries to .gpu-gtest/ (git-ignored); carry
# .gpu and .gpu-gtest.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${1:-} == pack ]]; then
  cd "$root" && rm -rf .gpu-gtest && mkdir -p .gpu-gtest/include .gpu-gtest/lib
  cp -r /usr/include/gtest .gpu-gtest/include/ && cp /usr/lib/x86_64-linux-gnu/libgtest{,_main}.a .gpu-gtest/lib/ || exit 2
  grep -qx '/.gpu-gtest/' .git/info/exclude 2>/dev/null || echo '/.gpu-gtest/' >> .git/info/exclude
  du -sh .gpu-gtest && exit 0
fi
# The CUDA runtime's headers: from the torch's nvidia wheels, or a toolkit.
cuda_include() {
  local torch_dir
  torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  for d in "$torch_dir"/../nvidia/*/include /usr/local/cuda/include; do
    [[ -e $d/cuda_runtime_api.h ]] && echo "$d"; done | head -1
}
if [[ ${1:-} == build ]]; then
  include=$(cuda_include)
  [[ -n $include ]] || { echo "gpu_session.sh build: no cuda_runtime_api.h; CUDA graphs would be left out" >&2; exit 2; }
  # results/export.cpp's generated header, as CMakeLists.txt writes it (device_build.sh
  # brings job_templates.h only; it keeps what build-gpu/generated already holds).
  mkdir -p "$root/build-gpu/generated"
  { printf '// Generated from results/python/pebench_model.py by tests/gpu_session.sh, as CMakeLists.txt does.\n'
    printf '#pragma once\nnamespace pebench {\ninline const char* const k_pebench_model_source = R"pebench_py('
    cat "$root/results/python/pebench_model.py"
    printf ')pebench_py";\n}  // namespace pebench\n'; } > "$root/build-gpu/generated/pebench_model_source.h"
  cd "$root" && CPATH=$include${CPATH:+:$CPATH} bash .gpu/device_build.sh
  exit
fi
[[ -d $root/.gpu-gtest ]] && export GTEST_DIR=$root/.gpu-gtest
build=$(cd "${1:?usage: bash tests/gpu_session.sh BUILD_DIR [cuda|cpu]}" && pwd)
device=${2:-cuda}
pebench=$build/pebench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

if [[ $device == cuda ]]; then
  torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  CXX11_ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))') \
    bash "$root/tests/models/cuda_check.sh" "$torch_dir" > "$work/cuda_check.txt" 2>&1 ||
    fail "cuda_check.sh: $(grep -E 'FAILED|Failure|error' "$work/cuda_check.txt" | head -20)"
  grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$work/cuda_check.txt"

  # 1b: device_build.sh's flags and objects, the stack it unpacked, the CUDA runtime's
  # headers from the torch's nvidia wheels (or a toolkit).
  cuda_include=$(cuda_include)
  abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  stack=/tmp/pebench-stack/root mpi=/usr/lib/x86_64-linux-gnu/openmpi
  gtest_flags=(); [[ -n ${GTEST_DIR:-} ]] && gtest_flags=(-isystem "$GTEST_DIR/include" -L"$GTEST_DIR/lib")
  core=$(ls "$build"/obj/*.o | grep -vE 'harness_main.cpp.o|bench_bench_main.cpp.o')
  if [[ -z $cuda_include ]]; then
    fail "1b: no cuda_runtime_api.h under $torch_dir/../nvidia/*/include or /usr/local/cuda/include"
  elif g++ -std=c++17 -O1 -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$root" -I"$build/generated" -isystem "$stack/usr/include" \
      -isystem /usr/include/hdf5/openmpi -isystem $mpi/include -isystem $mpi/include/openmpi -isystem "$torch_dir/include" \
      -isystem "$torch_dir/include/torch/csrc/api/include" -isystem "$cuda_include" "${gtest_flags[@]}" \
      -DPEBENCH_CUDA_SYNC_DEBUG=1 -DPEBENCH_SOURCE_DIR=\"$root\" -DOMPI_SKIP_MPICXX -DBOOST_PROGRAM_OPTIONS_DYN_LINK \
      -include "$root/encodings/torch_pch.h" "$root/tests/harness/test_data.cpp" $core -o "$work/data_tests" \
      -L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 \
      -Wl,--as-needed $mpi/lib/libmpi.so /usr/lib/x86_64-linux-gnu/libhdf5_openmpi.so.103 \
      /usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.74.0 -lgtest -lgtest_main -pthread > "$work/data_tests.txt" 2>&1; then
    "$work/data_tests" --gtest_filter='Cuda.*:Train.*:Evaluate.*' > "$work/data_tests.txt" 2>&1 ||
      fail "1b: $(grep -E -A8 'Failure|FAILED' "$work/data_tests.txt" | head -40)"
    grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$work/data_tests.txt"
  else
    fail "1b: test_data.cpp does not build: $(grep -m5 -E 'error' "$work/data_tests.txt")"
  fi
fi

# A short quickstart: the five encodings, 300 steps, eval to 16x.
study=(run "$root/jobs/quickstart.ini" --train.steps "${STEPS:-300}" --analysis.run none --device "$device")
declare -A flags=([fused]="--attention fused" [explicit]="--attention explicit"
                  [graph]="--attention fused --train.cuda_graph auto")
# twice VARIANT TAG [FLAGS...]: the study twice into VARIANT-TAG{a,b}.h5; true when `pebench
# merge` finds every dataset of the two equal bit for bit (merge.txt says which is not).
twice() {
  local variant=$1 tag=$2 copy
  shift 2
  for copy in a b; do
    # shellcheck disable=SC2086
    "$pebench" "${study[@]}" ${flags[$variant]} "$@" --store "$work/$variant-$tag$copy.h5" > "$work/$variant-$tag$copy.txt" 2>&1 ||
      echo "  run $variant $tag$copy: $(grep -m2 -iE 'determinis|error' "$work/$variant-$tag$copy.txt" || tail -2 "$work/$variant-$tag$copy.txt")"
  done
  "$pebench" merge "$work/$variant-${tag}a.h5" "$work/$variant-${tag}b.h5" -o "$work/$variant-${tag}merged.h5" > "$work/merge.txt" 2>&1
}
for variant in fused explicit graph; do
  if twice "$variant" ""; then
    echo "deterministic: ${flags[$variant]}, the same run twice on $device gives every dataset bit for bit"
  else
    fail "${flags[$variant]} is not deterministic on $device: $(cat "$work/merge.txt")"
    # Which op: torch's deterministic algorithms either make the reruns agree or stop the
    # run at the first op without a deterministic kernel, naming it.
    if twice "$variant" d --deterministic; then
      echo "  with --deterministic the two runs agree bit for bit"
    else
      echo "  with --deterministic still not: $(cat "$work/merge.txt")"
    fi
  fi
done
for variant in fused explicit graph; do
  echo "${flags[$variant]} on $device:"
  "$pebench" compare "$work/$variant-a.h5"
  "$pebench" inspect "$work/$variant-a.h5" > "$work/inspect.txt"
  grep '^computed as ' "$work/inspect.txt"
  if [[ $variant == graph && $device == cuda ]] && grep '^computed as ' "$work/inspect.txt" | grep -qv 'graph=captured'; then
    fail "--train.cuda_graph auto did not capture every run: $(grep '^computed as ' "$work/inspect.txt" | grep -v 'graph=captured')"
  fi
done
echo "gpu_session: $failures failures"
[[ $failures -eq 0 ]]
