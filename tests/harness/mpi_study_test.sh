#!/usr/bin/env bash
# A tiny study on 2 MPI ranks; every dataset is read back with h5py (no pebench), and
# the same runs in one process, with --deterministic, give the same curves bit for bit.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
set -e

cat > "$work/tiny.ini" <<'INI'
[study]
name = tiny
[model]
d_model = 32
layers = 1
heads = 2
[train]
seq_len = 32
steps = 30
batch = 8
log_every = 10
warmup = 5
[eval]
lengths = 32,64,128
tokens = 2048
[grid]
encoding = none,sinusoidal,learned,rope,alibi
seed = 0
INI

mpirun -np 2 "$pebench" run "$work/tiny.ini" --store "$work/mpi.h5" | tee "$work/mpi.log"
grep -q '^\[5/5\]' "$work/mpi.log"
# --deterministic (torch's deterministic algorithms) changes no CPU number and is recorded.
"$pebench" run "$work/tiny.ini" --store "$work/single.h5" --threads-per-rank 1 --deterministic > "$work/single.log"
"$pebench" inspect "$work/single.h5" > "$work/single.inspect"
grep -q '^computed as cpu .* aten=[A-Z_0-9]* deterministic torch=.*: 5 runs$' "$work/single.inspect"
# The CPU's BLAS kernel is recorded: the one OPENBLAS_CORETYPE names (README, Training).
if grep -q ' blas=openblas:' "$work/single.inspect" && grep -qw avx2 /proc/cpuinfo; then
  OPENBLAS_CORETYPE=Haswell "$pebench" run "$work/tiny.ini" --encoding none --store "$work/haswell.h5" > /dev/null
  "$pebench" inspect "$work/haswell.h5" | grep -q '^computed as cpu .* blas=openblas:Haswell aten=.*: 1 run$'
fi

/usr/bin/python3 - "$work/mpi.h5" "$work/single.h5" <<'PY'
import sys, h5py, numpy as np
mpi, single = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert mpi.attrs["schema"] == b"pebench-store", mpi.attrs["schema"]
assert mpi.attrs["schema_version"] == 1
assert b"name = tiny" in mpi.attrs["study"]
index = mpi["index"][:]
assert len(index) == 5, index
ranks = set()
for row in index:
    run_id = row["run_id"].decode()
    assert row["status"] == b"done", row
    run = mpi["runs"][run_id]
    assert run.attrs["encoding"] == row["encoding"]
    assert run.attrs["train_seq_len"] == 32 and run.attrs["seed"] == 0
    assert run.attrs["params"] > 0 and b"train.steps = 30" in run.attrs["config"]
    assert list(run["train/step"][:]) == [10, 20, 30]
    assert np.all(np.isfinite(run["train/loss"][:])) and np.all(run["train/lr"][:] > 0)
    assert list(run["eval/lengths"][:]) == [32, 64, 128]
    assert np.all(np.isfinite(run["eval/ppl"][:])) and np.all(run["eval/ppl"][:] > 1)
    assert list(run["eval/tokens"][:]) == [2048, 2048, 2048], run["eval/tokens"][:]  # eval.tokens, a multiple of 128
    assert run["eval"].attrs["protocol"] == b"nonoverlapping"
    assert run["eval/position_loss"].shape == (128,) and np.all(np.isfinite(run["eval/position_loss"][:]))
    summary = run["summary"][()]
    assert summary["wall_seconds"] > 0 and summary["train_tokens_per_second"] > 0
    assert summary["diverged_step"] == -1
    ranks.add(int(summary["rank"]))
    if row["encoding"] == b"learned":
        assert run.attrs["pe_table_rows"] == 128 and run.attrs["pe_rows_trained"] == 32
    other = single["runs"][run_id]
    for name in ("train/loss", "eval/ppl", "eval/position_loss"):
        assert np.array_equal(run[name][:], other[name][:]), (run_id, name, run[name][:], other[name][:])
assert ranks == {0, 1}, ranks
print("read back 5 runs from 2 ranks; curves equal the single-process run")
PY

"$pebench" compare "$work/mpi.h5" | tee "$work/compare.txt"
for encoding in none sinusoidal learned rope alibi; do grep -q "^$encoding " "$work/compare.txt"; done
"$pebench" inspect "$work/mpi.h5" > "$work/inspect.txt"
grep -q "5 runs: 5 done" "$work/inspect.txt"
# --resume on a finished study does nothing and keeps every result.
mpirun -np 2 "$pebench" run "$work/tiny.ini" --store "$work/mpi.h5" --resume > "$work/resume.log"
grep -q "0 of 5 runs to do" "$work/resume.log"

# Divergence: lr 1000 without clipping drives the loss to inf/NaN. The run is marked
# diverged with its step, its eval stays NaN, the study goes on (exit 0), compare says so.
mpirun -np 2 "$pebench" run "$work/tiny.ini" --store "$work/diverged.h5" --encoding alibi \
  --grid.train.lr 0.001,1000 --train.grad_clip 0 > "$work/diverged.log"
grep -q "DIVERGED on rank" "$work/diverged.log"
"$pebench" compare "$work/diverged.h5" > "$work/diverged.txt"
grep -qE "^alibi +32 +1000 +0 \+1 diverged" "$work/diverged.txt"
/usr/bin/python3 - "$work/diverged.h5" <<'PY'
import sys, h5py, numpy as np
store = h5py.File(sys.argv[1], "r")
statuses = sorted(row["status"] for row in store["index"][:])
assert statuses == [b"diverged", b"done"], statuses
for row in store["index"][:]:
    run = store["runs"][row["run_id"].decode()]
    step = run["summary"][()]["diverged_step"]
    if row["status"] == b"diverged":
        assert 1 <= step <= 30, step
        assert np.all(np.isnan(run["eval/ppl"][:])) and np.all(np.isnan(run["eval/position_loss"][:]))
        logged = run["train/step"][:]
        assert logged[0] == 10 and logged[-1] in (-1, 10, 20, 30), logged  # up to the log point that saw it
    else:
        assert step == -1 and np.all(np.isfinite(run["eval/ppl"][:]))
print("diverged run marked with its step; the other finished")
PY
# train.eval_every: the held-out eval every 10 steps on 2 ranks. Training and the final
# eval are those of the same runs without it bit for bit (alibi's, in diverged.h5; other
# run ids, since the runs compute more), the history
# ends with the final eval, a diverged run's unreached points are -1/NaN, and the report
# charts it.
mpirun -np 2 "$pebench" run "$work/tiny.ini" --store "$work/history.h5" --grid.encoding alibi,rope \
  --train.eval_every 10 --grid.train.lr 0.001,1000 --train.grad_clip 0 > "$work/history.log"
/usr/bin/python3 - "$work/history.h5" "$work/diverged.h5" <<'PY'
import sys, h5py, numpy as np
history, diverged = (h5py.File(path, "r") for path in sys.argv[1:])
def plain(store, encoding, config):
    for row in store["index"][:]:
        run = store["runs"][row["run_id"].decode()]
        if row["encoding"] == encoding and run.attrs["config"].replace(b"train.eval_every = 10\n", b"") == config:
            return run
seen = 0
for row in history["index"][:]:
    run = history["runs"][row["run_id"].decode()]
    assert b"train.eval_every = 10" in run.attrs["config"]
    steps, ppl = run["eval_history/step"][:], run["eval_history/ppl"][:]
    assert ppl.shape == (3, 3), ppl.shape
    twin = plain(diverged, row["encoding"], run.attrs["config"].replace(b"train.eval_every = 10\n", b""))
    if row["status"] == b"done":
        assert list(steps) == [10, 20, 30], steps
        assert np.array_equal(ppl[-1], run["eval/ppl"][:]) and np.all(np.isfinite(ppl)), ppl
        assert not np.array_equal(ppl[0], ppl[-1])
    else:
        assert row["status"] == b"diverged" and steps[-1] == -1 and np.all(np.isnan(ppl[-1])), (steps, ppl)
    if twin is not None:
        seen += 1
        for name in ("train/loss", "eval/ppl"):
            assert np.array_equal(run[name][:], twin[name][:], equal_nan=True), (name, run[name][:], twin[name][:])
assert seen == 2, seen  # alibi at lr 0.001 and 1000 without clipping: diverged.h5's runs
print("eval history: training and final eval unchanged, history ends with the final eval")
PY
"$pebench" report "$work/history.h5" -o "$work/history.html" > /dev/null
grep -q "Held-out perplexity during training" "$work/history.html"
echo "mpi study test passed"
