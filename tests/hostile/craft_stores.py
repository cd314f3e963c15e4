"""Crafted and damaged copies of a real pebench store, one per way a store can lie.

    /usr/bin/python3 craft_stores.py GOOD.h5 OUT_DIR     # writes OUT_DIR/<case>.h5, prints the case names

Each case changes one thing a reader relies on: a dataset missing, empty, of the wrong
rank, type or size, declaring far more values than the file holds, an index row without
a group, a recorded name without a dataset, an attribute of the wrong type. The readers
(compare, report, inspect, merge, run --resume, export, the Python loader) must answer
each with exit 0 or one line and exit 2, never a crash (tests/hostile/damaged_store_test.sh).
"""
import os
import shutil
import sys

import h5py
import numpy as np

good, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
cases = {}


def case(function):
    cases[function.__name__] = function
    return function


def first_run(f):
    return f["runs"][f["index"][0]["run_id"].decode()]


def replace(group, name, data=None, **create):
    """Deletes `name` and creates it again from `data` or dataset-creation arguments."""
    del group[name]
    return group.create_dataset(name, data=data, **create)


@case
def missing_ppl(f):
    del first_run(f)["eval/ppl"]


@case
def missing_lengths(f):
    del first_run(f)["eval/lengths"]


@case
def missing_summary(f):
    del first_run(f)["summary"]


@case
def missing_run_group(f):
    del f["runs"][f["index"][0]["run_id"].decode()]


@case
def missing_eval_group(f):
    del first_run(f)["eval"]


@case
def empty_probe_r2(f):
    replace(first_run(f), "probe/position_r2", np.zeros((0,)))


@case
def empty_lengths(f):
    replace(first_run(f), "eval/lengths", np.zeros((0,), dtype=np.int64))


@case
def short_ppl(f):
    replace(first_run(f), "eval/ppl", np.ones((1,)))


@case
def short_position_loss(f):
    replace(first_run(f), "eval/position_loss", np.ones((3,)))


@case
def two_dimensional_ppl(f):
    replace(first_run(f), "eval/ppl", np.ones((2, 2)))


@case
def string_ppl(f):
    replace(first_run(f), "eval/ppl", np.array([b"a", b"b"]))


@case
def huge_ppl(f):
    # 2^40 doubles declared, none stored: the file is a few hundred KB.
    replace(first_run(f), "eval/ppl", shape=(1 << 40,), dtype="f8")


@case
def huge_extra(f):
    replace(first_run(f), "receptive_field/erf", shape=(1 << 38,), dtype="f8")


@case
def huge_weight(f):
    replace(first_run(f), "weights/token_embedding.weight", shape=(1 << 20, 1 << 20), dtype="f4")


@case
def huge_lengths_value(f):
    run = first_run(f)
    run["eval/lengths"][...] = np.array([16, 1 << 40])


@case
def negative_lengths(f):
    run = first_run(f)
    run["eval/lengths"][...] = np.array([-5, -1])


@case
def huge_index(f):
    # 2^36 rows declared. The real /index allocates on resize; a new one made with
    # incremental allocation stores only the chunk written.
    rows = f["index"][()]
    del f["index"]
    index = f.create_dataset("index", shape=(1 << 36,), maxshape=(None,), chunks=(64,), dtype=rows.dtype)
    index[: len(rows)] = rows


@case
def empty_index(f):
    f["index"].resize((0,))


@case
def index_row_without_group(f):
    index = f["index"][()]
    index[0]["run_id"] = b"no-such-run"
    f["index"][...] = index


@case
def short_train_loss(f):
    replace(first_run(f), "train/loss", np.zeros((0,)))


@case
def short_probe_lengths(f):
    replace(first_run(f), "probe/lengths", np.array([16], dtype=np.int64))


@case
def short_window_ppl(f):
    replace(first_run(f), "receptive_field/ppl", np.ones((1,)))


@case
def short_attention_bins(f):
    replace(first_run(f), "attention/distance_bins", np.ones((2,)))


@case
def one_dimensional_bias_profile(f):
    replace(first_run(f), "encoding/bias_profile", np.ones((4,)))


@case
def recorded_extra_missing(f):
    run = first_run(f)
    names = run.attrs["extra_datasets"].decode()
    del run.attrs["extra_datasets"]
    run.attrs.create("extra_datasets", np.bytes_((names + ",no/such/dataset").encode()))


@case
def config_not_a_string(f):
    run = first_run(f)
    del run.attrs["config"]
    run.attrs["config"] = np.int64(7)


@case
def config_missing(f):
    del first_run(f).attrs["config"]


@case
def variable_length_config(f):
    run = first_run(f)
    text = run.attrs["config"].decode()
    del run.attrs["config"]
    run.attrs["config"] = text  # h5py writes a variable-length string


@case
def schema_version_string(f):
    del f.attrs["schema_version"]
    f.attrs.create("schema_version", np.bytes_(b"1"))


@case
def study_missing(f):
    del f.attrs["study"]


@case
def summary_wrong_type(f):
    replace(first_run(f), "summary", np.float64(3.0))


@case
def index_wrong_type(f):
    del f["index"]
    f.create_dataset("index", data=np.arange(4.0), maxshape=(None,), chunks=(4,))


@case
def variants_without_datasets(f):
    first_run(f)["eval"].attrs.create("variants", np.bytes_(b"pi,yarn"))


for name, function in cases.items():
    target = os.path.join(out, name + ".h5")
    shutil.copyfile(good, target)
    with h5py.File(target, "r+") as f:
        function(f)
    print(name)
