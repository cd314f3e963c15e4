#!/usr/bin/env bash
# Synthetic tasks end to end: each task trains and evaluates through `pebench run`, its
# accuracy datasets read back with h5py (fractions, one per eval length; the anchor task's
# held-out-pair metrics too), compare and report show them, and a second run of the same
# study writes the same numbers bit for bit.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"

for task in copy associative_recall sparse_memory anchor_composite; do
  length=32 lengths=32,64
  [[ $task == anchor_composite ]] && length=9 lengths=9,16
  cat > "$work/$task.ini" <<INI
[data]
source = synthetic:$task
symbols = 8
lags = 2,5
[model]
d_model = 16
layers = 1
heads = 2
[train]
seq_len = $length
steps = 20
batch = 8
log_every = 10
[eval]
lengths = $lengths
tokens = 512
[grid]
encoding = alibi,rope
INI
  "$pebench" run "$work/$task.ini" --store "$work/$task.h5" --threads-per-rank 1 > "$work/$task.log" 2>&1 ||
    die "$task: $(tail -2 "$work/$task.log")"
done

$python - "$work" <<'PY' || die "stored task metrics"
import sys, h5py, numpy as np
work = sys.argv[1]
for task, lengths in [("copy", [32, 64]), ("associative_recall", [32, 64]), ("sparse_memory", [32, 64]), ("anchor_composite", [9, 16])]:
    with h5py.File(f"{work}/{task}.h5", "r") as store:
        assert len(store["runs"]) == 2, task
        for run_id, run in store["runs"].items():
            config = run.attrs["config"].decode()
            assert f"data.source = synthetic:{task}" in config, config
            assert list(run["eval/lengths"][:]) == lengths, (task, run["eval/lengths"][:])
            accuracy = run["eval/accuracy"][:]
            assert accuracy.shape == (2,) and np.all((accuracy >= 0) & (accuracy <= 1)), (task, accuracy)
            assert np.all(np.isfinite(run["eval/ppl"][:])), task
            anchor = "eval/anchor" in run
            assert anchor == (task == "anchor_composite"), task
            if anchor:
                for name in ["inferential_accuracy", "symmetric_accuracy"]:
                    values = run["eval/anchor/" + name][:]
                    assert values.shape == (2,) and np.all((values >= 0) & (values <= 1)), values
            # Only scored targets count: at eval the copy is the longest that fits after
            # the start token, (L - 1) // 2 scored per sequence.
            tokens = run["eval/tokens"][:]
            if task == "copy":
                assert list(tokens) == [512 // 32 * 15, 512 // 64 * 31], tokens
            if task in ("associative_recall", "anchor_composite"):
                assert list(tokens) == [512 // n for n in lengths], tokens
print("task metrics stored for every task")
PY

"$pebench" compare "$work/anchor_composite.h5" > "$work/compare.txt" || die "compare"
grep -q "acc@9" "$work/compare.txt" && grep -q "inferential" "$work/compare.txt" && grep -q "symmetric" "$work/compare.txt" ||
  die "compare shows no task columns: $(cat "$work/compare.txt")"
"$pebench" report "$work/anchor_composite.h5" -o "$work/report.html" > /dev/null || die "report"
grep -q "Accuracy vs evaluation length" "$work/report.html" && grep -q "Held-out anchor pair (4,3)" "$work/report.html" ||
  die "report shows no task charts"

"$pebench" run "$work/sparse_memory.ini" --store "$work/again.h5" --threads-per-rank 1 > /dev/null 2>&1 || die "second run"
$python "$here/same_results.py" "$work/sparse_memory.h5" "$work/again.h5" || die "a task run is not reproducible"
echo "tasks study test passed"
