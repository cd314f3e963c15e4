#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one session (so ratios hold on a noisy machine):
# sgemm peak, training tokens/s for pebench and the Python reference (plain and with
# glibc's allocator tuned), training per encoding, eval speed and peak memory at long
# lengths, and study makespans on 2 ranks. Prints the raw lines, then the tables.
# usage: bench/run_benchmarks.sh [BUILD_DIR] [all|studies]   (all: ~20 minutes on 2 cores;
# studies: the makespan and store figures only, ~9 minutes; run on an idle machine)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
sections=${2:-all}
bench=$build/pebench_bench
pebench=$build/pebench
python=/usr/bin/python3  # Debian's, where python3-torch lives
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=$work/raw.txt
# The Python reference needs Debian's python3-torch (the same LibTorch as pebench).
if ! $python -c "import torch" 2> /dev/null; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch > /dev/null
fi
[[ -x $bench && -x $pebench ]] || { echo "build them first: bash jobs/build.sh pebench pebench_bench"; exit 2; }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
tuned="glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=2147483647"
record() { "$@" | tee -a "$raw"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)" | tee -a "$raw"
if [[ $sections == all ]]; then
for threads in 1 2; do record "$bench" sgemm --threads $threads --size 1024; done

# Training: the two configs of the issue, 1 thread.
configs=("--d_model 128 --layers 2 --heads 4 --seq_len 128 --batch 32" "--d_model 256 --layers 4 --heads 4 --seq_len 256 --batch 16")
for config in "${configs[@]}"; do
  # shellcheck disable=SC2086
  record "$bench" train $config --threads 1 --steps 40
  record "$python" "$root/bench/reference_train.py" train $config --threads 1 --steps 40
  GLIBC_TUNABLES=$tuned "$python" "$root/bench/reference_train.py" train $config --threads 1 --steps 40 |
    sed 's/bench=reference_train/bench=reference_train_tuned/' | tee -a "$raw"
  # train.precision = bf16 against Python's own bf16 autocast.
  record "$bench" train $config --threads 1 --steps 40 --precision bf16
  GLIBC_TUNABLES=$tuned "$python" "$root/bench/reference_train.py" train $config --threads 1 --steps 40 --precision bf16 |
    sed 's/bench=reference_train/bench=reference_train_tuned/' | tee -a "$raw"
done
# The thread rule of `--threads-per-rank`'s default: 1 against 2 threads at the studies'
# small size (d_model 64) and at the quickstart's (d_model 128).
for config in "--d_model 64 --seq_len 64 --batch 16" "--d_model 128 --seq_len 64 --batch 32"; do
  for threads in 1 2; do
    # shellcheck disable=SC2086
    record "$bench" train $config --threads $threads --steps 60
  done
done
for encoding in sinusoidal learned rope alibi t5 kerple_log fire; do
  record "$bench" train ${configs[0]} --encoding $encoding --threads 1 --steps 30
done

# Evaluation at 16x and 64x a train length of 64 (1024, 4096) and memory at 8192, d_model 128.
for length in 1024 4096; do
  record "$bench" eval --length $length --tokens 32768 --threads 1
  record "$python" "$root/bench/reference_train.py" eval --length $length --tokens 32768 --threads 1
done
record "$bench" eval --length 8192 --tokens 16384 --threads 1
record "$bench" eval --length 8192 --tokens 16384 --threads 1 --encoding alibi
fi

# Study makespans: 8 equal runs, then 8 unequal ones (train lengths 32..256).
study() {  # study NAME GRID_LINES
  printf '[model]\nd_model = 64\nlayers = 2\nheads = 4\n[train]\nsteps = 300\nbatch = 16\nlog_every = 100\n[eval]\nlengths = 256\ntokens = 4096\n[grid]\n%b' "$2" > "$work/$1.ini"
}
study equal 'encoding = alibi\ntrain.seq_len = 64\nseed = 0,1,2,3,4,5,6,7\n'
study unequal 'encoding = alibi\ntrain.seq_len = 32,64,128,256\nseed = 0,1\n'
makespan() {  # makespan NAME RANKS THREADS (default: pebench's own choice)
  local start end threads=()
  [[ $3 != default ]] && threads=(--threads-per-rank "$3")
  start=$(date +%s.%N)
  mpirun --oversubscribe -np "$2" "$pebench" run "$work/$1.ini" --store "$work/$1-$2x$3.h5" "${threads[@]}" > "$work/out.txt"
  end=$(date +%s.%N)
  echo "bench=makespan study=$1 ranks=$2 threads=$3 seconds=$(awk "BEGIN { print $end - $start }")" | tee -a "$raw"
  # pebench's own count of the HDF5 time (results/store.cpp store_seconds), busiest rank.
  sed -n "s/^pebench: store (HDF5) work /bench=store study=$1 ranks=$2 threads=$3 /p" "$work/out.txt" | tee -a "$raw"
}
for name in equal unequal; do
  makespan $name 1 1
  makespan $name 2 1
  makespan $name 1 2
  makespan $name 1 default
done

# Per-run times from the stores, for the ideal and the best static split.
$python - "$work" <<'PY' | tee -a "$raw"
import itertools, sys, h5py
work = sys.argv[1]
for name in ["equal", "unequal"]:
    with h5py.File(f"{work}/{name}-1x1.h5", "r") as store:
        times = [store["runs"][r]["summary"][()]["wall_seconds"] for r in store["runs"]]
    best = min(max(sum(t for t, side in zip(times, sides) if side), sum(t for t, side in zip(times, sides) if not side))
               for sides in itertools.product([0, 1], repeat=len(times)))
    print(f"bench=runs study={name} sum_single_rank_seconds={sum(times):.2f} best_static_2_ranks={best:.2f}")
PY

echo
echo "raw results: (copied into BENCHMARKS.md)"
cat "$raw"
