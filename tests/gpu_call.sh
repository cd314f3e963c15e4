#!/usr/bin/env bash
# Issue 18's GPU session as one device call that fits the device budget (15 minutes a
# session, the machine's start included; 10 a call): the build, then each step in the order
# of what the issue needs most, started only while its estimate fits in what is left of
# SECONDS (the benchmark steps also skip, one by one, the timings that would not). Output
# goes to $OUT as it is made, so a call cut off by its timeout still brings back every
# finished step. A warm machine keeps build-gpu/, and with it which steps are done: the same
# command run again goes on where the last one stopped; on a fresh machine, name the steps
# still wanted (the build comes first by itself).
#   here, before:  ../shared/gpu/pack.sh && bash tests/gpu_session.sh pack
#   the call:      run: command "bash tests/gpu_call.sh", carry .gpu and .gpu-gtest, timeout_s 600
#   afterwards:    python3 bench/gpu_tables.py FILES_AT/raw.txt: BENCHMARKS.md §7's tables
# usage: bash tests/gpu_call.sh [SECONDS] [STEP ...]
#   SECONDS: this call's budget (default 540: a 600 s call, less a minute for what the
#   estimates miss). STEPS: some of those below, run in the order given (default: all).
# Steps, most needed first, with the seconds each is given on an H200 (measured where said;
# the rest are guesses, to be replaced by what the first GPU session prints):
#   build        .gpu/device_build.sh with the CUDA runtime's headers (~60 s, measured 30 s
#                on 2026-11-30 without the graphs)
#   tests        gpu_session.sh tests: the model's tests and test_data.cpp's Cuda.*, Train.*
#                and Evaluate.* tests, built against build-gpu's objects (150)
#   determinism  gpu_session.sh determinism: 6 quickstart studies of 300 steps (150; the
#                quickstart's 600 steps took 20 s on 2026-11-30)
#   train        gpu_benchmarks.sh train, fp32: the issue's per-run targets
#   grid         gpu_benchmarks.sh grid: 1 rank, then MPS, then time-sliced
#   train-bf16   gpu_benchmarks.sh train, bf16
#   launches     gpu_benchmarks.sh launches
#   eval         gpu_benchmarks.sh eval
# The benchmark steps are started while 60 s are left; their own timings are skipped one by
# one past the deadline (gpu_benchmarks.sh DEADLINE), and a step with a skipped timing is not
# marked done.
# To check this script on a CPU machine (cpu: no build, no tests step; timings meaningless):
#   GPU_CALL_BUILD=/tmp/build-torch2 PYTHON=/tmp/venv/bin/python BENCH_DEVICE=cpu BENCH_QUICK=1 \
#     STEPS=20 bash tests/gpu_call.sh 900
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start=$(date +%s)
budget=${1:-540}
shift $(( $# > 0 ? 1 : 0 ))
steps=("$@")
all_steps=(build tests determinism train grid train-bf16 launches eval)
(( ${#steps[@]} )) || steps=("${all_steps[@]}")
for step in "${steps[@]}"; do
  [[ " ${all_steps[*]} " == *" $step "* ]] || { echo "gpu_call.sh: no step '$step' (${all_steps[*]})"; exit 2; }
done
deadline=$((start + budget))
export DEADLINE=$deadline
device=${BENCH_DEVICE:-cuda}
build=${GPU_CALL_BUILD:-$root/build-gpu}
mkdir -p "$build"
out=${OUT:-$build/out}
mkdir -p "$out"
export RAW=$out/raw.txt
done_file=$build/gpu_call.done
touch "$done_file"
# Where the sources changed since a step was done (another working tree sent to a warm
# machine), nothing counts as done.
sources=$(cd "$root" && find encodings models harness results bench tests jobs -type f \( -name '*.cpp' -o -name '*.h' \
  -o -name '*.sh' -o -name '*.py' -o -name '*.ini' \) | sort | xargs cat | md5sum | cut -c1-12)
grep -qx "sources $sources" "$done_file" || printf 'sources %s\n' "$sources" > "$done_file"
left() { echo $((deadline - $(date +%s))); }
echo "gpu_call: steps ${steps[*]}; budget $budget s; $(date -u +%FT%TZ)"

built() { [[ -x $build/pebench && -x $build/pebench_bench ]] && grep -qx build "$done_file"; }
ensure_build() {
  [[ $device != cuda ]] && return 0
  built && return 0
  bash "$root/tests/gpu_session.sh" build && echo build >> "$done_file"
}

run_steps() {
  for step in "${steps[@]}"; do
    if grep -qx "$step" "$done_file"; then echo "== $step: done in an earlier call"; continue; fi
    case $step in
      build) need=90 ;;
      tests | determinism) need=150 ;;
      *) need=60 ;;  # train grid train-bf16 launches eval
    esac
    [[ $step != build && $device == cuda ]] && ! built && need=$((need + 90))
    if (( $(left) < need )); then echo "== $step: skipped, $(left) s left of the $need s it needs"; continue; fi
    echo "== $step ($(left) s left, $(date -u +%T))"
    step_start=$(date +%s)
    ensure_build || { echo "gpu_call: the build failed; nothing else can run"; exit 1; }
    if [[ $step != build ]]; then
      [[ -f $build/env.sh ]] && source "$build/env.sh"
      case $step in
        tests | determinism)
          [[ $step == tests && $device != cuda ]] && { echo "(no device: skipped)"; continue; }
          bash "$root/tests/gpu_session.sh" "$build" "$device" "$step" && echo "$step" >> "$done_file" ;;
        *)
          section=${step%-bf16} precisions=fp32
          [[ $step == train-bf16 ]] && precisions=bf16
          PRECISIONS=$precisions bash "$root/bench/gpu_benchmarks.sh" "$build" "$section" > "$out/$step.txt" 2>&1
          status=$?
          sed -n '/^raw results:/q;p' "$out/$step.txt"
          grep -q '^skipped (out of time' "$out/$step.txt" || (( status )) || echo "$step" >> "$done_file" ;;
      esac
    fi
    echo "== $step: $(( $(date +%s) - step_start )) s"
  done
}
# Everything shown also kept in $OUT, line by line (a call cut off keeps what was shown).
run_steps 2>&1 | tee -a "$out/gpu_call.txt"
status=${PIPESTATUS[0]}
(( status )) && exit "$status"

{ echo
  echo "gpu_call: $(( $(date +%s) - start )) s; done: $(grep -vx "sources $sources" "$done_file" | tr '\n' ' ')"
  [[ -s $RAW ]] && "${PYTHON:-python3}" "$root/bench/gpu_tables.py" "$RAW"; } 2>&1 | tee -a "$out/gpu_call.txt"
exit 0
