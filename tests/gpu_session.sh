#!/usr/bin/env bash
# The correctness checks of issue 18 that need a GPU (the timings are
# bench/gpu_benchmarks.sh's; tests/gpu_call.sh runs both in one device call). On the lent
# machine, after `bash tests/gpu_session.sh build && source build-gpu/env.sh`:
#   bash tests/gpu_session.sh build-gpu [cuda|cpu] [tests] [determinism]
# tests: tests/models/test_transformer.cpp and tests/harness/test_data.cpp, each built
#    against build-gpu's objects (so nothing of pebench is compiled twice), the latter with
#    the CUDA sync-debug test on, then run:
#    - every TransformerLM test: every encoding on CUDA against the CPU (logits, every
#      gradient, query-blocked eval) through the fused attention that CUDA runs use; the
#      fused-vs-explicit tests on that torch's CPU kernels;
#    - Cuda.*: no host wait between log points, for every encoding, fp32 and bf16; eval
#      waits as often in 4 batches per length as in 1; the step replayed from a CUDA graph
#      trains as eager steps do; then the training and eval tests on that torch's CPU kernels.
# determinism:
#    - the quickstart twice on the device with each attention, and fused with the step
#      in a CUDA graph (--train.cuda_graph auto); `pebench merge` of the two stores refuses,
#      naming the dataset, unless every dataset but the timings is equal bit for bit.
#      Where two runs differ, both again with --deterministic: equal then, or the op that
#      has no deterministic kernel named by torch.
#    - fused against explicit attention on the device: both compare tables, and each
#      run's compute string (device, kernels, graph: `pebench inspect`); every graph run
#      must say graph=captured.
# Default: both (cuda), determinism only (cpu).
# The build: `bash tests/gpu_session.sh build` runs .gpu/device_build.sh with the CUDA
# runtime's headers on `CPATH`, so that harness/cuda_graph.cpp compiles its graphs in, and
# as C++20 where the torch's headers require it (device_build.sh compiles as C++17).
#   cpu (with a torch 2.x build): the determinism step on the CPU, to check the script
#   itself; STEPS=20 shortens the study.
# GoogleTest for the tests step, where the image lacks it: here, `bash tests/gpu_session.sh
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
# The image's torch, whose headers and libraries pebench builds against (pack needs none).
[[ ${1:-} == pack ]] || torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
# The CUDA runtime's headers: from the torch's nvidia wheels, or a toolkit.
cuda_include() {
  for d in "$torch_dir"/../nvidia/*/include /usr/local/cuda/include; do
    [[ -e $d/cuda_runtime_api.h ]] && echo "$d"; done | head -1
}
# The C++ standard to compile with: device_build.sh's, or C++20 where the torch's headers
# refuse anything older (torch/all.h of torch 2.15 does; the image's 2.11 builds as C++17).
cxx_std() {
  if grep -qs '__cplusplus < 202002L' "$torch_dir/include/torch/csrc/api/include/torch/all.h"; then echo c++20
  else grep -o -m1 -- '-std=c++[0-9]*' "$root/.gpu/device_build.sh" | cut -d= -f2; fi
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
  device_build=.gpu/device_build.sh
  std=$(cxx_std)
  if ! grep -q -- "-std=$std" "$root/$device_build"; then
    sed "s/-std=c++[0-9]*/-std=$std/" "$root/$device_build" > "$root/.gpu/device_build_$std.sh"
    device_build=.gpu/device_build_$std.sh
  fi
  cd "$root" && CPATH=$include${CPATH:+:$CPATH} bash "$device_build"
  exit
fi
[[ -d $root/.gpu-gtest ]] && export GTEST_DIR=$root/.gpu-gtest
build=$(cd "${1:?usage: bash tests/gpu_session.sh BUILD_DIR [cuda|cpu] [tests] [determinism]}" && pwd)
device=${2:-cuda}
steps=" ${*:3} "
[[ $steps == "  " ]] && { steps=" determinism "; [[ $device == cuda ]] && steps=" tests determinism "; }
pebench=$build/pebench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

if [[ $steps == *" tests "* ]]; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  # device_build.sh's flags and objects, the stack it unpacked, the CUDA runtime's headers
  # from the torch's nvidia wheels (or a toolkit).
  cuda_include=$(cuda_include)
  abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  stack=/tmp/pebench-stack/root mpi=/usr/lib/x86_64-linux-gnu/openmpi
  std=$(cxx_std)  # as the objects were compiled
  cxx_flags=(-std="${std:-c++17}" -O1 -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$root" -I"$build/generated" -isystem "$stack/usr/include"
    -isystem /usr/include/hdf5/openmpi -isystem "$mpi/include" -isystem "$mpi/include/openmpi" -isystem "$torch_dir/include"
    -isystem "$torch_dir/include/torch/csrc/api/include" -isystem "$cuda_include" -DPEBENCH_CUDA_SYNC_DEBUG=1
    -DPEBENCH_SOURCE_DIR="\"$root\"" -DOMPI_SKIP_MPICXX -DBOOST_PROGRAM_OPTIONS_DYN_LINK -include "$root/encodings/torch_pch.h")
  [[ -n ${GTEST_DIR:-} ]] && cxx_flags+=(-isystem "$GTEST_DIR/include")
  libs=(-L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10
    -Wl,--as-needed "$mpi/lib/libmpi.so" /usr/lib/x86_64-linux-gnu/libhdf5_openmpi.so.103
    /usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.74.0 ${GTEST_DIR:+-L"$GTEST_DIR/lib"} -lgtest -lgtest_main -pthread)
  core=$(ls "$build"/obj/*.o | grep -vE 'harness_main.cpp.o|bench_bench_main.cpp.o')
  # test_binary NAME SOURCE: $work/NAME, its compiler's words in $work/NAME.build.
  test_binary() {
    # shellcheck disable=SC2086
    g++ "${cxx_flags[@]}" -c "$root/$2" -o "$work/$1.o" > "$work/$1.build" 2>&1 &&
      g++ "$work/$1.o" $core -o "$work/$1" "${libs[@]}" >> "$work/$1.build" 2>&1
  }
  # run_tests NAME SOURCE FILTER: built, run, its verdicts printed; a failure named.
  run_tests() {
    if ! wait "${pids[$1]}"; then
      fail "$2 does not build against $build: $(grep -m5 -E 'error' "$work/$1.build")"
    elif "$work/$1" --gtest_filter="$3" > "$work/$1.txt" 2>&1; then
      grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$work/$1.txt"
    else
      grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$work/$1.txt"
      fail "$2: $(grep -E -A8 'Failure|FAILED' "$work/$1.txt" | head -40)"
    fi
  }
  if [[ -z $cuda_include ]]; then
    fail "tests: no cuda_runtime_api.h under $torch_dir/../nvidia/*/include or /usr/local/cuda/include"
  else
    declare -A pids
    test_binary model_tests tests/models/test_transformer.cpp & pids[model_tests]=$!
    test_binary data_tests tests/harness/test_data.cpp & pids[data_tests]=$!
    run_tests model_tests tests/models/test_transformer.cpp '*'
    run_tests data_tests tests/harness/test_data.cpp 'Cuda.*:Train.*:Evaluate.*'
  fi
fi
[[ $steps == *" determinism "* ]] || { echo "gpu_session: $failures failures"; [[ $failures -eq 0 ]]; exit; }

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
