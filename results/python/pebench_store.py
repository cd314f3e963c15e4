"""Read a pebench store (results/README.md, schema version 1) with h5py and numpy only.

Debian's modules live under Debian's interpreter: run with /usr/bin/python3
(python3-h5py, python3-numpy). No pandas.

    import pebench_store
    store = pebench_store.load("quickstart.h5")
    for run in store["runs"]:
        print(run["run_id"], run["status"], run["eval"]["lengths"], run["eval"]["ppl"])
    for row in pebench_store.compare(store["runs"]):   # the rows of `pebench compare --format json`
        print(row["encoding"], row["ppl@1024"], row["ci95@1024"])
    for row in pebench_store.compare(store["runs"], metric="bpb"):   # bits per byte (text runs)
        print(row["encoding"], row["bpb@1024"])

Text runs also carry run["eval"]["bpb"] (bits per byte at each length); passkey runs
run["eval"]["passkey"] = {"accuracy": [lengths, depths], "distance": ..., "max_distance": ...};
SentencePiece runs run["tokenizer"] = {"spec": "bpe:8192 model=HASH", "model": bytes of the
.model file, loadable with sentencepiece.SentencePieceProcessor(model_proto=...)};
runs with train.eval_every run["eval"]["history"] = {"step": [points], "ppl": [points, lengths],
and a task's "accuracy", ...}, the evaluations during training (the last is the final one);
run["compute"] is how the run was computed ("cuda:0 attention=fused adamw=fused ...";
"" before it finished and in stores made before it).
"""
import math

import h5py
import numpy as np

SCHEMA_VERSION = 1
# Stores record each run's task-metric and analysis datasets in its `extra_datasets`
# attribute; stores made before that attribute are read by these prefixes.
ANALYSIS_PREFIXES = ("eval/accuracy", "eval/bpb", "eval/bytes", "eval/passkey/", "eval/anchor/", "receptive_field/", "attention/", "probe/", "encoding/row_norm", "encoding/distance_spearman")

# A stored config leaves keys out by their run-id rule (harness/study.cpp), so that runs
# made before a key existed keep their ids. compare() gives a run that lacks one of them,
# where another run has it, its store's recorded default (the `key_defaults` attribute),
# as `pebench compare` does; stores made before that attribute use these values.
LEFT_OUT_AT_DEFAULT = {"train.precision": "fp32", "data.symbols": "16", "data.lags": "3,17,40",
                       "data.tokenizer": "bytes", "data.eval_source": "none", "data.documents": "eod",
                       "data.passkey_mix": "0", "eval.passkey": "false", "eval.passkey_depths": "5",
                       "eval.passkey_trials": "8", "train.eval_every": "0",
                       "analysis.run": "none", "analysis.rf_length": "0",
                       "analysis.windows": "1,2,4,8,16,32,64,128,256,512,1024", "analysis.epsilon": "0.01",
                       "analysis.tokens": "8192", "analysis.sequences": "32"}


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _readable(value):
    """Reals with 15 significant digits (0.29999999999999999 -> 0.3), as pebench compare shows them."""
    if not any(c in value for c in ".eE"):
        return value
    try:
        return "%.15g" % float(value)
    except ValueError:
        return value


def _config(text):
    pairs = (line.split(" = ", 1) for line in _text(text).splitlines() if " = " in line)
    return {key: _readable(value) for key, value in pairs}


class StoreError(ValueError):
    """A file that is not a readable pebench store; the message names the store, run and dataset."""


def _bounded(f, path):
    """Reads datasets only when they fit in the file: a crafted header can declare any size."""
    file_bytes = f.id.get_filesize()

    def read(group, name):
        if name not in group or not isinstance(group[name], h5py.Dataset):
            raise StoreError(f"dataset {name} is missing")
        dataset = group[name]
        if dataset.size * dataset.dtype.itemsize > file_bytes:
            raise StoreError(f"dataset {name} declares {dataset.size} values, more than the file ({file_bytes} bytes) holds")
        return dataset[()]
    return read


def load(path):
    """The whole store as plain dicts, lists and numpy arrays. Raises StoreError (a
    ValueError naming the store, run and dataset) on a file that is not a readable store."""
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise StoreError(f"{path}: not an HDF5 file ({error})") from None
    with f:
        read = _bounded(f, path)
        try:
            if _text(f.attrs.get("schema", b"")) != "pebench-store":
                raise StoreError("not a pebench store")
            version = int(f.attrs["schema_version"])
            if version > SCHEMA_VERSION:
                raise StoreError(f"store schema version {version}; this reader knows up to {SCHEMA_VERSION}")
            key_defaults = _config(f.attrs["key_defaults"]) if "key_defaults" in f.attrs else None
            index = read(f, "index")
            study = {"study": _text(f.attrs["study"]), "study_name": _text(f.attrs.get("study_name", b"")),
                     "key_defaults": key_defaults, "pebench_version": _text(f.attrs["pebench_version"]),
                     "schema_version": version}
        except (KeyError, OSError, TypeError, ValueError) as error:
            raise StoreError(f"{path}: {error}") from None
        runs = []
        for number, row in enumerate(index):
            run_id = f"in /index row {number}"
            try:
                run_id = _text(row["run_id"])
                runs.append(_run(f, row, run_id, read, key_defaults))
            except (KeyError, OSError, TypeError, ValueError, IndexError) as error:
                raise StoreError(f"{path}, run {run_id}: {error}") from None
        return dict(study, runs=runs)


def _run(f, row, run_id, read, key_defaults):
    """One run's group as plain dicts and numpy arrays."""
    group = f["runs"][run_id]
    summary = read(group, "summary")
    evaluation = group["eval"]
    variants = [v for v in _text(evaluation.attrs.get("variants", b"")).split(",") if v]
    extra = {}
    if "extra_datasets" in group.attrs:
        for name in (n for n in _text(group.attrs["extra_datasets"]).split(",") if n):
            extra[name] = read(group, name)
    else:
        group.visititems(lambda name, item: extra.__setitem__(name, read(group, name))
                         if isinstance(item, h5py.Dataset) and name.startswith(ANALYSIS_PREFIXES) else None)
    evaluation_extra = {}
    if "eval/bpb" in extra:
        evaluation_extra["bpb"] = extra["eval/bpb"]
        evaluation_extra["bytes"] = extra["eval/bytes"]
    if "eval/passkey/accuracy" in extra:
        evaluation_extra["passkey"] = {"accuracy": extra["eval/passkey/accuracy"],
                                       "distance": extra["eval/passkey/distance"],
                                       "max_distance": float(extra["eval/passkey/max_distance"][0])}
    if "eval_history/step" in extra:  # train.eval_every: {"step": [points], "ppl": [points, lengths], ...}
        evaluation_extra["history"] = {name[len("eval_history/"):]: values for name, values in extra.items()
                                       if name.startswith("eval_history/")}
    tokenizer = None
    if "tokenizer" in group.attrs:
        tokenizer = {"spec": _text(group.attrs["tokenizer"]), "model": bytes(read(group, "tokenizer/model"))}
    return {
        "run_id": run_id,
        "tokenizer": tokenizer,
        "encoding": _text(row["encoding"]),
        "train_seq_len": int(row["train_seq_len"]),
        "seed": int(row["seed"]),
        "status": _text(row["status"]),
        "config": _config(group.attrs["config"]),
        "params": int(group.attrs["params"]),
        "summary": {name: (_text(summary[name]) if name == "host" else summary[name].item())
                    for name in summary.dtype.names},
        "compute": _text(read(group, "compute")) if "compute" in group else "",
        "train": {name: read(group, "train/" + name) for name in ("step", "loss", "lr")},
        "eval": {
            "lengths": read(group, "eval/lengths"),
            "ppl": read(group, "eval/ppl"),
            "tokens": read(group, "eval/tokens"),
            "position_loss": read(group, "eval/position_loss"),
            "protocol": _text(evaluation.attrs["protocol"]),
            "variants": {name: {key: read(group, f"eval/{name}/{key}") for key in ("ppl", "tokens", "position_loss")}
                         for name in variants},
            **evaluation_extra,
        },
        "bias_profile": read(group, "encoding/bias_profile") if "encoding/bias_profile" in group else None,
        "table": read(group, "encoding/table") if "encoding/table" in group else None,
        "analyses": extra,
        "key_defaults": key_defaults,
    }


_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_critical_95(df):
    """Two-sided 95% critical value of Student's t (the table, then Cornish-Fisher)."""
    if df <= 30:
        return _T95[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df)


def _estimate(values):
    if not values:
        return None, None
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    return mean, t_critical_95(len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))


def effective_extrapolation_length(lengths, ppl, train_length, tolerance=0.1):
    """Largest L with every ppl from the train length to L within (1 + tolerance) of the
    best ppl at or below the train length; 0 when the train length itself is not."""
    best = min((p for l, p in zip(lengths, ppl) if l <= train_length and np.isfinite(p)), default=math.inf)
    reached = 0
    for length, value in zip(lengths, ppl):
        if length < train_length:
            continue
        if not value <= (1 + tolerance) * best:
            break
        reached = int(length)
    return reached


def bits_per_byte(run, ppl, tokens=None):
    """A ppl curve in bits per byte: log2(ppl) / (bytes per scored token), from the run's
    eval/bytes (text runs); NaN where the run has none, as `pebench compare --metric bpb`."""
    tokens = run["eval"]["tokens"] if tokens is None else tokens
    if "bytes" not in run["eval"]:
        return np.full(len(ppl), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2(np.asarray(ppl, dtype=float)) * np.asarray(tokens, dtype=float) / np.asarray(run["eval"]["bytes"], dtype=float)


def _partner(config, baseline, key):
    """The baseline curve paired with a run's `config` (`pebench compare --baseline`): equal
    in every key but `key`; failing that, but keys that leave the final eval as it was
    (analysis.*, train.eval_every); then, for key "encoding", the encoding.* options too."""
    for level in (0, 1, 2) if key == "encoding" else (0, 1):
        def ignored(k):
            return (k == key or (level >= 1 and (k.startswith("analysis.") or k == "train.eval_every"))
                    or (level == 2 and k.startswith("encoding.")))
        found = {}
        for other, run, ppl in baseline:
            if {k: v for k, v in config.items() if not ignored(k)} == {k: v for k, v in other.items() if not ignored(k)}:
                found.setdefault(run["run_id"], (run, ppl))
        if len(found) > 1:
            raise ValueError(f"--baseline {key}: a run matches baseline runs {sorted(found)}")
        if found:
            return next(iter(found.values()))
    return None


def _paired_columns(members, base, baseline, lengths, metric):
    """One group's `--baseline` columns: pairs, and per length the estimate and its CI's ends."""
    key, value = baseline
    def name(bound, length):
        return f"{'bpb-base' if metric == 'bpb' else 'ppl/base'}{bound}@{length}"
    names = [name(bound, length) for length in lengths for bound in ("", "_lo", "_hi")]
    if members[0][2].get(key) == value:
        return dict({"pairs": "base"}, **{name: "base" for name in names})
    differences, pairs = {}, 0
    for run, ppl, config in members:
        found = _partner(config, base, key) if run["status"] == "done" else None
        if found is None or found[0]["status"] != "done":
            continue
        pairs += 1
        partner, partner_ppl = found
        partner_lengths = [int(l) for l in partner["eval"]["lengths"]]
        for i, length in enumerate(int(l) for l in run["eval"]["lengths"]):
            if length in partner_lengths:
                a, b = float(ppl[i]), float(partner_ppl[partner_lengths.index(length)])
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = a - b if metric == "bpb" else float(np.log(a / b))
                if np.isfinite(d):
                    differences.setdefault(length, []).append(d)
    columns = {"pairs": pairs}
    shown = (lambda d: d) if metric == "bpb" else math.exp
    for length in lengths:
        mean, ci = _estimate(differences.get(length, []))
        ends = (mean, None, None) if mean is None or ci is None else (mean, mean - ci, mean + ci)
        for bound, d in zip(("", "_lo", "_hi"), ends):
            columns[name(bound, length)] = None if d is None else shown(d)
    return columns


def compare(runs, tolerance=0.1, metric="ppl", baseline=None):
    """Groups of runs that differ only by seed (keys that vary), as `pebench compare --format
    json` prints them, without the analysis columns; diverged/failed runs are counted, not averaged.
    metric: "ppl", or "bpb" (columns bpb@L). baseline: (KEY, VALUE) adds `--baseline KEY=VALUE`'s
    columns: each run against its baseline run (equal in every key but KEY), per length the
    geometric mean ppl ratio (bpb: mean difference) over the pairs and its 95% CI's ends."""
    if metric not in ("ppl", "bpb"):
        raise ValueError(f"metric {metric!r}: expected ppl or bpb")
    stored_keys = {key for run in runs for key in run["config"]}

    def defaults_of(run):
        recorded = run.get("key_defaults") or {}
        return {key: recorded.get(key, LEFT_OUT_AT_DEFAULT.get(key)) for key in stored_keys
                if key in recorded or key in LEFT_OUT_AT_DEFAULT}
    runs = [dict(run, config=dict(defaults_of(run), **run["config"])) for run in runs]
    curves = []
    convert = (lambda run, ppl: bits_per_byte(run, ppl)) if metric == "bpb" else (lambda run, ppl: ppl)
    for run in runs:
        curves.append((run, run["config"]["encoding"], convert(run, run["eval"]["ppl"])))
        curves += [(run, run["config"]["encoding"] + "+" + name, convert(run, v["ppl"]))
                   for name, v in run["eval"]["variants"].items()]
    values = {}
    for run, encoding, _ in curves:
        for key, value in dict(run["config"], encoding=encoding).items():
            values.setdefault(key, set()).add(value)
    by = ["encoding", "train.seq_len"] + sorted(k for k, v in values.items()
                                                if len(v) > 1 and k not in ("seed", "encoding", "train.seq_len"))
    lengths = sorted({int(l) for run, _, _ in curves for l in run["eval"]["lengths"]})
    groups = {}
    for run, encoding, ppl in curves:
        config = dict(run["config"], encoding=encoding)
        groups.setdefault(tuple(config.get(k, "") for k in by), []).append((run, ppl, config))
    if baseline is not None:
        key, value = baseline
        if key not in by:
            raise ValueError(f"--baseline {key}={value}: {key} is not a grouping key ({', '.join(by)})")
        base = [(config, run, ppl) for members in groups.values() for run, ppl, config in members if config.get(key) == value]
        if not base:
            raise ValueError(f"--baseline {key}={value}: no run compared has {key} = {value}")
    rows = []
    for key in sorted(groups):
        members = [(run, ppl) for run, ppl, _ in groups[key]]
        done = [(run, ppl) for run, ppl in members if run["status"] == "done"]
        row = {("L_train" if k == "train.seq_len" else k): v for k, v in zip(by, key)}
        row.update(seeds=len(done), diverged=sum(r["status"] == "diverged" for r, _ in members),
                   failed=sum(r["status"] == "failed" for r, _ in members),
                   unfinished=sum(r["status"] not in ("done", "diverged", "failed") for r, _ in members))
        for length in lengths:
            at = [float(ppl[list(run["eval"]["lengths"]).index(length)]) for run, ppl in done
                  if length in list(run["eval"]["lengths"])]
            row[f"{metric}@{length}"], row[f"ci95@{length}"] = _estimate(at)
        ratios, effective = [], []
        for run, ppl in done:
            run_lengths = [int(l) for l in run["eval"]["lengths"]]
            train = int(run["config"]["train.seq_len"])
            if train in run_lengths:
                ratios.append(float(ppl[-1] / ppl[run_lengths.index(train)]))
            effective.append(effective_extrapolation_length(run_lengths, ppl, train, tolerance))
        row["ratio"], row["ratio_ci95"] = _estimate(ratios)
        # The median over seeds, an eval length (the lower middle one for an even count), and the range.
        effective.sort()
        row["eff_len"], row["eff_len_min"], row["eff_len_max"] = (
            (effective[(len(effective) - 1) // 2], effective[0], effective[-1]) if effective else (None, None, None))
        if baseline is not None:
            row.update(_paired_columns(groups[key], base, baseline, lengths, metric))
        rows.append(row)
    return rows
