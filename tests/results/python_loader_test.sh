#!/usr/bin/env bash
# results/python: the loader reads a store made here into the same numbers that
# `pebench compare --format json` prints (means, 95% CIs, ratios, effective lengths,
# status counts, variant curves), and the matplotlib example draws the plot
# (python3-matplotlib is installed when missing).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
loader=$here/../../results/python

cat > "$work/seeds.ini" <<'INI'
[model]
d_model = 16
layers = 1
heads = 2
[train]
seq_len = 16
steps = 20
batch = 4
log_every = 10
[eval]
lengths = 16,32,64
tokens = 512
[encoding]
rope_scaling = pi
[grid]
encoding = alibi,rope
seed = 0,1,2
INI
"$pebench" run "$work/seeds.ini" --store "$work/seeds.h5" --threads-per-rank 1 > /dev/null || { echo "FAIL run"; exit 1; }
"$pebench" compare "$work/seeds.h5" --format json > "$work/compare.json" || { echo "FAIL compare"; exit 1; }
# The same store grown by bf16 runs of seed 0, whose configs name train.precision while
# the fp32 ones leave it out: both readers must still tell them apart.
cp "$work/seeds.h5" "$work/mixed.h5"
"$pebench" run "$work/seeds.ini" --store "$work/mixed.h5" --resume --grid.train.precision fp32,bf16 --grid.seed 0 \
  --threads-per-rank 1 > /dev/null || { echo "FAIL bf16 runs"; exit 1; }
"$pebench" compare "$work/mixed.h5" --format json > "$work/mixed.json" || { echo "FAIL compare mixed"; exit 1; }
# --baseline: each run against its alibi seed (rope and rope+pi), in ppl and in bpb.
"$pebench" compare "$work/seeds.h5" --format json --baseline encoding=alibi > "$work/paired.json" || { echo "FAIL compare --baseline"; exit 1; }
"$pebench" compare "$work/seeds.h5" --format json --baseline encoding=alibi --metric bpb > "$work/paired-bpb.json" ||
  { echo "FAIL compare --baseline --metric bpb"; exit 1; }

PYTHONPATH=$loader $python - "$work/seeds.h5" "$work/compare.json" "$work/mixed.h5" "$work/mixed.json" "$work/paired.json" \
  "$work/paired-bpb.json" <<'PY' || { echo "FAIL loader differs from compare"; exit 1; }
import json, math, sys
import pebench_store
store = pebench_store.load(sys.argv[1])
assert store["schema_version"] == 1 and len(store["runs"]) == 6, len(store["runs"])
assert all(run["status"] == "done" for run in store["runs"])
rope = next(run for run in store["runs"] if run["encoding"] == "rope")
assert list(rope["eval"]["variants"]) == ["pi"] and len(rope["eval"]["variants"]["pi"]["ppl"]) == 3
expected = json.load(open(sys.argv[2]))
got = pebench_store.compare(store["runs"])
assert len(got) == len(expected) == 3, (len(got), len(expected))  # alibi, rope, rope+pi
mixed_expected = json.load(open(sys.argv[4]))
mixed_got = pebench_store.compare(pebench_store.load(sys.argv[3])["runs"])
assert len(mixed_got) == len(mixed_expected) == 6, (len(mixed_got), len(mixed_expected))  # each in fp32 and bf16
assert [(row["train.precision"], row["seeds"]) for row in mixed_expected[:2]] == [("bf16", 1), ("fp32", 3)], mixed_expected[:2]
paired_expected = json.load(open(sys.argv[5])) + json.load(open(sys.argv[6]))
paired_got = (pebench_store.compare(store["runs"], baseline=("encoding", "alibi")) +
              pebench_store.compare(store["runs"], baseline=("encoding", "alibi"), metric="bpb"))
assert [row["pairs"] for row in paired_expected] == ["base", 3, 3] * 2, paired_expected
assert all(row["ppl/base_lo@64"] < row["ppl/base@64"] < row["ppl/base_hi@64"] for row in paired_expected[1:3]), paired_expected
for want, have in zip(expected + mixed_expected + paired_expected, got + mixed_got + paired_got):
    assert set(want) == set(have), set(want) ^ set(have)
    for key, value in want.items():
        mine = have[key]
        if value is None or isinstance(value, str):
            assert mine == value, (key, value, mine)
        else:
            assert mine is not None and math.isclose(mine, value, rel_tol=1e-9, abs_tol=1e-12), (key, value, mine)
    assert (want["seeds"] == 3 and want["ci95@64"] is not None) or want.get("train.precision") == "bf16", want
print("loader equals pebench compare --format json on", len(got) + len(mixed_got) + len(paired_got), "groups")
PY

# train.eval_every: run["eval"]["history"], ending with the final eval.
"$pebench" run "$work/seeds.ini" --store "$work/history.h5" --grid.encoding rope --grid.seed 0 --train.eval_every 5 \
  --threads-per-rank 1 > /dev/null || { echo "FAIL history run"; exit 1; }
PYTHONPATH=$loader $python - "$work/history.h5" <<'PY' || { echo "FAIL loader history"; exit 1; }
import sys
import pebench_store
run = pebench_store.load(sys.argv[1])["runs"][0]
history = run["eval"]["history"]
assert list(history["step"]) == [5, 10, 15, 20], history["step"]
assert history["ppl"].shape == (4, 3) and list(history["ppl"][-1]) == list(run["eval"]["ppl"]), history["ppl"]
assert run["config"]["train.eval_every"] == "5"
print("loader reads the eval history")
PY

install_missing python3-matplotlib || die "could not install python3-matplotlib"
$python "$loader/plot_ppl.py" "$work/seeds.h5" -o "$work/ppl.png" || { echo "FAIL plot example"; exit 1; }
[[ $(head -c 4 "$work/ppl.png" | od -An -c | tr -d ' ') == "211PNG" && $(stat -c %s "$work/ppl.png") -gt 10000 ]] ||
  { echo "FAIL the plot is not a PNG of some size"; exit 1; }
$python "$loader/plot_ppl.py" "$work/seeds.h5" --baseline encoding=alibi -o "$work/ratio.png" > "$work/ratio.log" ||
  { echo "FAIL plot --baseline: $(cat "$work/ratio.log")"; exit 1; }
[[ $(head -c 4 "$work/ratio.png" | od -An -c | tr -d ' ') == "211PNG" && $(stat -c %s "$work/ratio.png") -gt 10000 ]] ||
  { echo "FAIL the ratio plot is not a PNG of some size"; exit 1; }
$python "$loader/plot_ppl.py" "$work/seeds.h5" --baseline encoding=xpos -o "$work/none.png" > /dev/null 2>&1 &&
  { echo "FAIL plot --baseline with a value no run has"; exit 1; }
echo "python loader test passed"
