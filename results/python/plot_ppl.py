#!/usr/bin/python3
"""Perplexity vs eval length, one line per group of seeds with its 95% CI band.

    /usr/bin/python3 results/python/plot_ppl.py quickstart.h5 -o ppl.png
    /usr/bin/python3 results/python/plot_ppl.py zoo-seeds.h5 --baseline encoding=alibi -o ratio.png

With --baseline KEY=VALUE: each group's ppl divided by its baseline run's, run by run
(`pebench compare --baseline`), geometric mean over the pairs with its 95% CI band.

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
    parser.add_argument("--baseline", help="KEY=VALUE: ppl relative to that group's runs, paired by seed")
    args = parser.parse_args()
    baseline = None
    if args.baseline:
        key, _, value = args.baseline.partition("=")
        if not key or not value:
            parser.error(f"--baseline {args.baseline!r}: expected KEY=VALUE, e.g. encoding=alibi")
        baseline = (key, value)
    rows = pebench_store.compare(pebench_store.load(args.store)["runs"], baseline=baseline)
    lengths = sorted(int(k[4:]) for k in rows[0] if k.startswith("ppl@"))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        if baseline:  # the ratio and its CI's ends; the baseline is the line at 1
            if row["pairs"] == "base" or row["pairs"] == 0:
                continue
            ppl, lower, upper = ([row[f"ppl/base{bound}@{l}"] for l in lengths] for bound in ("", "_lo", "_hi"))
        else:
            ppl = [row[f"ppl@{l}"] for l in lengths]
            ci = [row[f"ci95@{l}"] for l in lengths]
            lower = upper = [None]
            if all(c is not None for c in ci):
                lower, upper = [p - c for p, c in zip(ppl, ci)], [p + c for p, c in zip(ppl, ci)]
        if any(p is None for p in ppl):
            continue  # no finished seed
        keys = [k for k in row if k not in ("seeds", "diverged", "failed", "unfinished", "encoding", "pairs")
                and not k.startswith(("ppl@", "ci95@", "ratio", "eff_len", "ppl/base"))]
        label = ", ".join([row["encoding"]] + [f"{k}={row[k]}" for k in keys])
        label += f" ({row['pairs']} pairs)" if baseline else f" ({row['seeds']} seeds)"
        line, = axes.plot(lengths, ppl, marker="o", label=label)
        if all(v is not None for v in lower + upper):
            axes.fill_between(lengths, lower, upper, color=line.get_color(), alpha=0.2)
    if baseline:
        axes.axhline(1, color="black", linewidth=1)
        axes.set_yscale("log")
    train_lengths = sorted({int(row["L_train"]) for row in rows})
    for train in train_lengths:
        axes.axvline(train, color="grey", linestyle="--", linewidth=1)
    axes.set_xscale("log", base=2)
    axes.set_xticks(lengths, [str(l) for l in lengths])
    axes.set_xlabel("eval length (tokens); dashed: train length")
    axes.set_ylabel(f"ppl / ppl of {baseline[0]} = {baseline[1]}" if baseline else "held-out perplexity")
    axes.set_title(os.path.basename(args.store))
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
