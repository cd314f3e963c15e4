#!/usr/bin/python3
"""usage: same_results.py REFERENCE.h5 STORE.h5

Exit 0 when STORE holds the same runs as REFERENCE, every one done, and every dataset
but the timing summary bit for bit equal (NaN where NaN); else print what differs, exit 1.
Reads with h5py only, so it also proves the file opens without pebench."""
import sys

import h5py
import numpy as np


def datasets(group):
    found = {}
    group.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    found.pop("summary", None)
    return found


def main(reference_path, store_path):
    problems = []
    with h5py.File(reference_path, "r") as reference, h5py.File(store_path, "r") as store:
        expected = sorted(reference["runs"].keys())
        if sorted(store["runs"].keys()) != expected:
            problems.append(f"runs differ: {sorted(store['runs'].keys())} vs {expected}")
        statuses = {row["run_id"].decode(): row["status"].decode() for row in store["index"][()]}
        if len(store["index"]) != len(expected):
            problems.append(f"/index has {len(store['index'])} rows for {len(expected)} runs")
        for run_id in expected:
            if statuses.get(run_id) != "done":
                problems.append(f"{run_id}: status {statuses.get(run_id)}")
                continue
            want, got = datasets(reference["runs"][run_id]), datasets(store["runs"][run_id])
            if sorted(want) != sorted(got):
                problems.append(f"{run_id}: datasets {sorted(got)} vs {sorted(want)}")
            for name in want:
                a, b = np.asarray(want[name]), np.asarray(got.get(name))
                if a.shape != b.shape or a.tobytes() != b.tobytes():
                    problems.append(f"{run_id}/{name} differs")
    for problem in problems:
        print("DIFF", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
