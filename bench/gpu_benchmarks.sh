#!/usr/bin/env bash
# The GPU section of BENCHMARKS.md in one script, on one CUDA device, in one session (so the
# ratios hold): per-run training tokens/s of pebench (explicit and fused attention, and fused
# with the step in a CUDA graph: train.cuda_graph = auto) and of
# its PyTorch peer (bench/reference_train.py: eager, sdpa, compile, compile-graphs) at the
# two sizes of issue 18, fp32 and bf16; eval tokens/s at 4096 and 16384; the makespan of a
# grid of 30 quickstart runs on 1 rank, K ranks time-sliced and K ranks under MPS (K = 4,
# 8, 16). Prints the raw lines, then the markdown tables.
# Also the kernel ops one training step dispatches, pebench's and the peer's (launches).
# usage: bench/gpu_benchmarks.sh BUILD_DIR [all|train|eval|grid|launches ...]
#   BUILD_DIR holds pebench and pebench_bench built against a CUDA LibTorch (on the lent
#   machine: build-gpu/ from ../shared/gpu/device_build.sh, after `source build-gpu/env.sh`).
#   PYTHON: the interpreter whose torch the peer uses (default python3).
#   PRECISIONS: the train section's precisions (default "fp32 bf16").
#   RAW: the file the raw lines are added to (default a temporary one).
#   DEADLINE (seconds since the epoch): a command whose estimate would end past it is
#   skipped, and says so (tests/gpu_call.sh fits the whole GPU session in one device call).
#   BENCH_DEVICE=cpu BENCH_QUICK=1: a few steps of everything on the CPU, to check the
#   script itself (no MPS; the timings mean nothing).
# Not yet timed on a GPU; the grid alone ran 26 runs in 10.8-59.7 s per layout on an H200
# with the code of 2026-11-30 (../shared/gpu/README.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
build=$(cd "${1:?usage: bench/gpu_benchmarks.sh BUILD_DIR [all|train|eval|grid|launches ...]}" && pwd)
shift
sections=" ${*:-all} "
want() { [[ $sections == *" all "* || $sections == *" $1 "* ]]; }
device=${BENCH_DEVICE:-cuda}
quick=${BENCH_QUICK:-0}
bench=$build/pebench_bench
pebench=$build/pebench
[[ -x $bench && -x $pebench ]] || { echo "gpu_benchmarks.sh: no pebench and pebench_bench in $build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=${RAW:-$work/raw.txt}
deadline=${DEADLINE:-0}
# record SECONDS COMMAND...: runs it, its lines kept in $raw, unless SECONDS (its estimate on
# an H200, start-up and compiling included) would take it past DEADLINE. A command that
# fails is named and the others still run; the script then exits 1.
failed=0
# out_of_time SECONDS WHAT: true, and says so, when SECONDS from now is past DEADLINE.
out_of_time() {
  (( deadline > 0 && $(date +%s) + $1 > deadline )) || return 1
  echo "skipped (out of time, needs ~$1 s): $2"
}
record() {
  local seconds=$1
  shift
  out_of_time "$seconds" "${*##*/}" && return 0
  "$@" | tee -a "$raw" || { echo "FAILED (exit ${PIPESTATUS[0]}): ${*##*/}"; failed=1; }
}
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

gpu="cpu"
[[ $device == cuda ]] && gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
echo "machine: $gpu; $(nproc) cores; torch $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2> /dev/null || echo "none in $python"); $(date -u +%Y-%m-%d)" | tee -a "$raw"

# The two sizes of issue 18, and steps per timed run (tokens/s: median of 10-step windows
# after the first).
sizes=("--d_model 128 --layers 2 --heads 4 --seq_len 64 --batch 32" "--d_model 512 --layers 8 --heads 8 --seq_len 512 --batch 32")
steps=(300 100)
eval_lengths=(4096 16384)
grid_seeds=0,1,2,3,4,5
grid_flags=()
ranks=(4 8 16)
if [[ $quick == 1 ]]; then
  sizes=("--d_model 32 --layers 1 --heads 2 --seq_len 16 --batch 4" "--d_model 64 --layers 2 --heads 4 --seq_len 32 --batch 4")
  steps=(30 30)
  eval_lengths=(256 512)
  grid_seeds=0
  grid_flags=(--train.steps 20 --eval.lengths 64,128 --analysis.run none)
  ranks=(2)
fi

if want train; then
  for i in "${!sizes[@]}"; do
    for precision in ${PRECISIONS:-fp32 bf16}; do
      for attention in explicit fused; do
        # shellcheck disable=SC2086
        record 20 "$bench" train ${sizes[$i]} --steps "${steps[$i]}" --precision $precision --device "$device" --attention $attention
      done
      # shellcheck disable=SC2086
      record 20 "$bench" train ${sizes[$i]} --steps "${steps[$i]}" --precision $precision --device "$device" --attention fused \
        --cuda_graph auto
      for mode in eager sdpa compile compile-graphs; do
        [[ $device == cpu && $mode == compile-graphs ]] && continue  # CUDA graphs need CUDA
        # On the CPU, inductor compiles C++ for minutes: the quick check compiles once.
        [[ $quick == 1 && $mode == compile && ($i -gt 0 || $precision == bf16) ]] && continue
        seconds=20; [[ $mode == compile* ]] && seconds=90  # inductor's compile, a guess: never timed here
        # shellcheck disable=SC2086
        record $seconds "$python" "$root/bench/reference_train.py" train ${sizes[$i]} --steps "${steps[$i]}" \
          --precision $precision --device "$device" --mode $mode
      done
    done
  done
fi

if want launches; then
  # Kernel ops per step on this device (dispatcher ops that do work; a multi-tensor op once).
  for i in "${!sizes[@]}"; do
    for attention in explicit fused; do
      # shellcheck disable=SC2086
      record 15 "$bench" launches ${sizes[$i]} --device "$device" --attention $attention
    done
    for mode in eager sdpa; do
      # shellcheck disable=SC2086
      record 15 "$python" "$root/bench/reference_train.py" launches ${sizes[$i]} --device "$device" --mode $mode
    done
  done
fi

if want eval; then
  for length in "${eval_lengths[@]}"; do
    for attention in explicit fused; do
      record 20 "$bench" eval --length "$length" --tokens $((4 * length)) --device "$device" --attention $attention
    done
    for mode in eager sdpa; do
      record 20 "$python" "$root/bench/reference_train.py" eval --length "$length" --tokens $((4 * length)) --device "$device" --mode $mode
    done
  done
fi

if want grid; then
  # The quickstart with 6 seeds (30 runs) on one device: 1 rank, K ranks time-sliced, K
  # ranks under MPS (one control daemon, as `pebench submit --ranks-per-gpu` starts). In
  # the order issue 18 needs them (its target: MPS against 1 rank), so that a DEADLINE cuts
  # the least needed.
  grid() {  # grid RANKS MPS SECONDS
    local start end
    out_of_time "$3" "grid of $1 ranks, mps=$2" && return 0
    start=$(date +%s.%N)
    mpirun --oversubscribe -np "$1" "$pebench" run "$root/jobs/quickstart.ini" --grid.seed "$grid_seeds" \
      --device "$device" --store "$work/grid-$1-$2.h5" "${grid_flags[@]}" > "$work/grid.txt" 2>&1 ||
      { echo "FAILED: grid of $1 ranks, mps=$2: $(tail -3 "$work/grid.txt")"; failed=1; return 0; }
    end=$(date +%s.%N)
    echo "bench=grid runs=$(( $(tr -cd , <<< "$grid_seeds" | wc -c) * 5 + 5 )) ranks=$1 mps=$2 seconds=$(awk "BEGIN { print $end - $start }")" | tee -a "$raw"
  }
  mps_on() {
    export CUDA_MPS_PIPE_DIRECTORY=$work/mps CUDA_MPS_LOG_DIRECTORY=$work/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d
    trap 'echo quit | nvidia-cuda-mps-control; rm -rf "$work"' EXIT
  }
  mps_off() {
    echo quit | nvidia-cuda-mps-control
    trap 'rm -rf "$work"' EXIT
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  }
  # 2026-11-30 on an H200 (26 runs): 1 rank 59.7 s, 16 time-sliced 22.2 s, 16 under MPS 10.8 s.
  grid 1 no 90
  if [[ $device == cuda ]]; then
    mps_on
    for k in $(printf '%s\n' "${ranks[@]}" | sort -rn); do grid "$k" yes 30; done
    mps_off
  fi
  for k in $(printf '%s\n' "${ranks[@]}" | sort -rn); do grid "$k" no 45; done
fi

echo
echo "raw results:"
cat "$raw"
echo
# The tables of BENCHMARKS.md's GPU section, from the raw lines.
"$python" "$root/bench/gpu_tables.py" "$raw"
exit $failed
