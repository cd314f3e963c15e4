#!/usr/bin/env bash
# The correctness checks of issue 18 that need a GPU, in one call (the timings are
# bench/gpu_benchmarks.sh's): on the lent machine, after `bash .gpu/device_build.sh &&
# source build-gpu/env.sh`:
#   bash tests/gpu_session.sh build-gpu
# 1. tests/models/cuda_check.sh: every encoding on CUDA against the CPU (logits, every
#    gradient, query-blocked eval), through the fused attention that CUDA runs use; the
#    fused-vs-explicit, clip and AdamW tests on that torch's CPU kernels.
# 2. Determinism: the quickstart twice on the device with each attention; `pebench merge`
#    of the two stores refuses, naming the dataset, unless every dataset but the timings is
#    equal bit for bit.
# 3. Fused against explicit attention on the device: both compare tables, and each run's
#    compute string (device and kernels, `pebench inspect`).
# usage: bash tests/gpu_session.sh BUILD_DIR [cuda|cpu]
#   cpu (with a torch 2.x build): steps 2 and 3 on the CPU, to check the script itself;
#   STEPS=20 shortens the study.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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
fi

# A short quickstart: the five encodings, 300 steps, eval to 16x.
study=(run "$root/jobs/quickstart.ini" --train.steps "${STEPS:-300}" --analysis.run none --device "$device")
for attention in fused explicit; do
  for copy in a b; do
    "$pebench" "${study[@]}" --attention $attention --store "$work/$attention-$copy.h5" > "$work/$attention-$copy.txt" 2>&1 ||
      fail "run $attention $copy: $(tail -3 "$work/$attention-$copy.txt")"
  done
  if "$pebench" merge "$work/$attention-a.h5" "$work/$attention-b.h5" -o "$work/$attention-merged.h5" > "$work/merge.txt" 2>&1; then
    echo "deterministic: --attention $attention, the same run twice on $device gives every dataset bit for bit"
  else
    fail "--attention $attention is not deterministic on $device: $(cat "$work/merge.txt")"
  fi
done
for attention in fused explicit; do
  echo "--attention $attention on $device:"
  "$pebench" compare "$work/$attention-a.h5"
  "$pebench" inspect "$work/$attention-a.h5" | head -3
  python3 - "$work/$attention-a.h5" <<'PY' 2> /dev/null || true
import sys
try:
    import h5py
except ImportError:
    sys.exit(0)
with h5py.File(sys.argv[1], "r") as store:
    run = next(iter(store["runs"].values()))
    print("compute:", run["compute"][()].decode())
PY
done
echo "gpu_session: $failures failures"
[[ $failures -eq 0 ]]
