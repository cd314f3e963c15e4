#!/usr/bin/python3
"""Perplexity vs eval length, one line per group of seeds with its 95% CI band.

    /usr/bin/python3 results/python/plot_ppl.py quickstart.h5 -o ppl.png

Needs Debian's python3-matplotlib (and python3-h5py) under /usr/bin/python3."""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pebench_store  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("-o", "--output", default="ppl.png")
    args = parser.parse_args()
    rows = pebench_store.compare(pebench_store.load(args.store)["runs"])
    lengths = sorted(int(k[4:]) for k in rows[0] if k.startswith("ppl@"))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        ppl = [row[f"ppl@{l}"] for l in lengths]
        if any(p is None for p in ppl):
            continue  # no finished seed
        keys = [k for k in row if k not in ("seeds", "diverged", "failed", "unfinished", "encoding")
                and not k.startswith(("ppl@", "ci95@", "ratio", "eff_len"))]
        label = ", ".join([row["encoding"]] + [f"{k}={row[k]}" for k in keys]) + f" ({row['seeds']} seeds)"
        line, = axes.plot(lengths, ppl, marker="o", label=label)
        ci = [row[f"ci95@{l}"] for l in lengths]
        if all(c is not None for c in ci):
            axes.fill_between(lengths, [p - c for p, c in zip(ppl, ci)], [p + c for p, c in zip(ppl, ci)],
                              color=line.get_color(), alpha=0.2)
    train_lengths = sorted({int(row["L_train"]) for row in rows})
    for train in train_lengths:
        axes.axvline(train, color="grey", linestyle="--", linewidth=1)
    axes.set_xscale("log", base=2)
    axes.set_xticks(lengths, [str(l) for l in lengths])
    axes.set_xlabel("eval length (tokens); dashed: train length")
    axes.set_ylabel("held-out perplexity")
    axes.set_title(os.path.basename(args.store))
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
