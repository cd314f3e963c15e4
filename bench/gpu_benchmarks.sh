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
#   BENCH_DEVICE=cpu BENCH_QUICK=1: a few steps of everything on the CPU, to check the
#   script itself (no MPS; the timings mean nothing).
# Not yet timed on a GPU; the grid alone ran 26 runs in 10.8-59.7 s per layout on an H200
# with the code of 2026-11-30 (../shared/gpu/README.md): run the sections as two calls.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: bench/gpu_benchmarks.sh BUILD_DIR [all|train|eval|grid|launches ...]}" && pwd)
shift
sections=" ${*:-all} "
want() { [[ $sections == *" all "* || $sections == *" $1 "* ]]; }
python=${PYTHON:-python3}
device=${BENCH_DEVICE:-cuda}
quick=${BENCH_QUICK:-0}
bench=$build/pebench_bench
pebench=$build/pebench
[[ -x $bench && -x $pebench ]] || { echo "gpu_benchmarks.sh: no pebench and pebench_bench in $build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=${RAW:-$work/raw.txt}
record() { "$@" | tee -a "$raw"; }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

gpu="cpu"
[[ $device == cuda ]] && gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
echo "machine: $gpu; $(nproc) cores; torch $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'); $(date -u +%Y-%m-%d)" | tee -a "$raw"

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
    for precision in fp32 bf16; do
      for attention in explicit fused; do
        # shellcheck disable=SC2086
        record "$bench" train ${sizes[$i]} --steps "${steps[$i]}" --precision $precision --device "$device" --attention $attention
      done
      # shellcheck disable=SC2086
      record "$bench" train ${sizes[$i]} --steps "${steps[$i]}" --precision $precision --device "$device" --attention fused \
        --cuda_graph auto
      for mode in eager sdpa compile compile-graphs; do
        [[ $device == cpu && $mode == compile-graphs ]] && continue  # CUDA graphs need CUDA
        # On the CPU, inductor compiles C++ for minutes: the quick check compiles once.
        [[ $quick == 1 && $mode == compile && ($i -gt 0 || $precision == bf16) ]] && continue
        # shellcheck disable=SC2086
        record "$python" "$root/bench/reference_train.py" train ${sizes[$i]} --steps "${steps[$i]}" --precision $precision \
          --device "$device" --mode $mode
      done
    done
  done
fi

if want launches; then
  # Kernel ops per step on this device (dispatcher ops that do work; a multi-tensor op once).
  for i in "${!sizes[@]}"; do
    for attention in explicit fused; do
      # shellcheck disable=SC2086
      record "$bench" launches ${sizes[$i]} --device "$device" --attention $attention
    done
    for mode in eager sdpa; do
      # shellcheck disable=SC2086
      record "$python" "$root/bench/reference_train.py" launches ${sizes[$i]} --device "$device" --mode $mode
    done
  done
fi

if want eval; then
  for length in "${eval_lengths[@]}"; do
    for attention in explicit fused; do
      record "$bench" eval --length "$length" --tokens $((4 * length)) --device "$device" --attention $attention
    done
    for mode in eager sdpa; do
      record "$python" "$root/bench/reference_train.py" eval --length "$length" --tokens $((4 * length)) --device "$device" --mode $mode
    done
  done
fi

if want grid; then
  # The quickstart with 6 seeds (30 runs) on one device: 1 rank, K ranks time-sliced, K
  # ranks under MPS (one control daemon, as `pebench submit --ranks-per-gpu` starts).
  grid() {  # grid RANKS MPS
    local start end
    start=$(date +%s.%N)
    mpirun --oversubscribe -np "$1" "$pebench" run "$root/jobs/quickstart.ini" --grid.seed "$grid_seeds" \
      --device "$device" --store "$work/grid-$1-$2.h5" "${grid_flags[@]}" > "$work/grid.txt"
    end=$(date +%s.%N)
    echo "bench=grid runs=$(( $(tr -cd , <<< "$grid_seeds" | wc -c) * 5 + 5 )) ranks=$1 mps=$2 seconds=$(awk "BEGIN { print $end - $start }")" | tee -a "$raw"
  }
  grid 1 no
  for k in "${ranks[@]}"; do grid "$k" no; done
  if [[ $device == cuda ]]; then
    export CUDA_MPS_PIPE_DIRECTORY=$work/mps CUDA_MPS_LOG_DIRECTORY=$work/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d
    trap 'echo quit | nvidia-cuda-mps-control; rm -rf "$work"' EXIT
    for k in "${ranks[@]}"; do grid "$k" yes; done
  fi
fi

echo
echo "raw results:"
cat "$raw"
echo
# The tables of BENCHMARKS.md's GPU section, from the raw lines.
"$python" - "$raw" <<'PY'
import re, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in open(sys.argv[1]) if line.startswith("bench=")]
def k(v): return f"{float(v) / 1000:,.0f}k"
train = [r for r in rows if r["bench"] in ("train", "reference_train")]
if train:
    print("| model | precision | pebench explicit | pebench fused | pebench fused + CUDA graph | PyTorch eager | sdpa | compile | compile + CUDA graphs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    shapes = sorted({(r["d_model"], r["layers"], r["heads"], r["seq_len"], r["batch"]) for r in train}, key=lambda s: int(s[0]))
    for shape in shapes:
        for precision in ("fp32", "bf16"):
            def cell(bench, key, value, graph="off"):
                found = [r for r in train if r["bench"] == bench and r.get(key) == value and r["precision"] == precision
                         and r.get("cuda_graph", "off") == graph
                         and (r["d_model"], r["layers"], r["heads"], r["seq_len"], r["batch"]) == shape]
                return k(found[0]["tokens_per_s"]) if found else "-"
            cells = [cell("train", "attention", a) for a in ("explicit", "fused")] + [cell("train", "attention", "fused", "auto")]
            cells += [cell("reference_train", "mode", m) for m in ("eager", "sdpa", "compile", "compile-graphs")]
            print(f"| d{shape[0]} L{shape[1]} H{shape[2]} T{shape[3]} B{shape[4]} | {precision} | " + " | ".join(cells) + " |")
    print()
launches = [r for r in rows if r["bench"] in ("launches", "reference_launches")]
if launches:
    print("| model | pebench explicit | pebench fused | PyTorch eager | sdpa |   (kernel ops per training step)")
    print("| --- | --- | --- | --- | --- |")
    for shape in sorted({(r["d_model"], r["layers"], r["heads"]) for r in launches}, key=lambda s: int(s[0])):
        def cell(bench, key, value):
            found = [r for r in launches if r["bench"] == bench and r.get(key) == value
                     and (r["d_model"], r["layers"], r["heads"]) == shape]
            return found[0]["kernel_ops_per_step"] if found else "-"
        print(f"| d{shape[0]} L{shape[1]} H{shape[2]} | " + " | ".join(
            [cell("launches", "attention", "explicit"), cell("launches", "attention", "fused"),
             cell("reference_launches", "mode", "eager"), cell("reference_launches", "mode", "sdpa")]) + " |")
    print()
evals = [r for r in rows if r["bench"] in ("eval", "reference_eval")]
if evals:
    print("| eval length | pebench explicit | pebench fused | PyTorch eager | sdpa |")
    print("| --- | --- | --- | --- | --- |")
    for length in sorted({r["length"] for r in evals}, key=int):
        def cell(bench, key, value):
            found = [r for r in evals if r["bench"] == bench and r.get(key) == value and r["length"] == length]
            return k(found[0]["tokens_per_s"]) if found else "-"
        print(f"| {length} | " + " | ".join([cell("eval", "attention", "explicit"), cell("eval", "attention", "fused"),
                                             cell("reference_eval", "mode", "eager"), cell("reference_eval", "mode", "sdpa")]) + " |")
    print()
grids = [r for r in rows if r["bench"] == "grid"]
if grids:
    one = [float(r["seconds"]) for r in grids if r["ranks"] == "1"][0]
    print(f"| ranks on one device | time-sliced | under MPS |   ({grids[0]['runs']} runs; 1 rank {one:.1f} s)")
    print("| --- | --- | --- |")
    for ranks in sorted({r["ranks"] for r in grids if r["ranks"] != "1"}, key=int):
        def cell(mps):
            found = [float(r["seconds"]) for r in grids if r["ranks"] == ranks and r["mps"] == mps]
            return f"{found[0]:.1f} s ({one / found[0]:.1f}x)" if found else "-"
        print(f"| {ranks} | {cell('no')} | {cell('yes')} |")
PY
