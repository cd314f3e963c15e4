#!/usr/bin/env bash
# Real corpora the way papers use them, end to end through `pebench run` under mpirun:
# a folder of documents with a BPE tokenizer trained by pebench and cached beside the
# store, a separate eval_source, bits per byte stored beside ppl and shown by compare,
# report and the Python loader, passkey retrieval stored and drawn; `pebench tokenize`
# feeding a tokens: study that reads the same numbers; byte-level runs whose bpb is
# log2(ppl); and bad input refused with exit 2, one line, nothing written.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
root=$(cd "$here/../.." && pwd)
export PYTHONPATH=$root/results/python

# Documents: generated English-like text in three files and a held-out file of its own.
mkdir -p "$work/docs/more"
$python - "$work" <<'PY'
import random, sys
work = sys.argv[1]
random.seed(5)
words = "the a of and to in is was for on that with as by at from his her it an be this which or are".split()
words += "river house garden letter morning window winter story music answer number people mountain".split()
def text(n):
    return "\n".join(" ".join(random.choice(words) for _ in range(random.randint(5, 15))).capitalize() + "." for _ in range(n)) + "\n"
for name, n in [("docs/a.txt", 900), ("docs/b.txt", 900), ("docs/more/c.txt", 900), ("test.txt", 700)]:
    open(f"{work}/{name}", "w").write(text(n))
PY
cat > "$work/bpe.ini" <<INI
[data]
source = text:$work/docs
eval_source = text:$work/test.txt
tokenizer = bpe:300
passkey_mix = 0.2
[model]
d_model = 16
heads = 2
layers = 1
[train]
seq_len = 64
steps = 20
batch = 8
log_every = 10
[eval]
lengths = 128,256
tokens = 1024
passkey = true
passkey_depths = 3
passkey_trials = 2
[grid]
encoding = alibi,rope
INI
mpirun -np 2 "$pebench" run "$work/bpe.ini" --store "$work/bpe.h5" --threads-per-rank 1 > "$work/bpe.log" 2>&1 ||
  die "bpe study: $(tail -3 "$work/bpe.log")"
cache=$(ls "$work/pebench-cache" 2>/dev/null | sort | tr '\n' ' ')
[[ $cache == "tokenizer-"*".model tokens-"*".bin " ]] || fail "cache beside the store holds one model and one token file: '$cache'"

$python - "$work/bpe.h5" <<'PY' || fail "stored bpe runs"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as store:
    assert len(store["runs"]) == 2
    models = set()
    for run_id, run in store["runs"].items():
        config = run.attrs["config"].decode()
        assert "data.tokenizer = bpe:300" in config and "eval.passkey = true" in config, config
        spec = run.attrs["tokenizer"].decode()
        assert spec.startswith("bpe:300 model="), spec
        model = bytes(run["tokenizer/model"][()])
        assert len(model) > 1000
        models.add(model)
        identity = run.attrs["data_identity"].decode()
        assert " eval=bytes=" in identity and " tokenizer=bpe:300 model=" in identity, identity
        ppl, bpb = run["eval/ppl"][()], run["eval/bpb"][()]
        tokens, nbytes = run["eval/tokens"][()], run["eval/bytes"][()]
        assert np.allclose(bpb, np.log2(ppl) * tokens / nbytes, rtol=1e-12), (bpb, ppl)
        assert (nbytes > tokens).all(), "a BPE token holds more than one byte"
        accuracy = run["eval/passkey/accuracy"][()]
        assert accuracy.shape == (3, 3), accuracy.shape  # lengths 64, 128, 256 x 3 depths
        assert ((accuracy >= 0) & (accuracy <= 1)).all()
        distance = run["eval/passkey/distance"][()]
        assert (np.diff(distance, axis=1) < 0).all(), distance  # deeper: nearer the question
        assert run["eval/passkey/max_distance"].shape == (1,)
    assert len(models) == 1, "one corpus, one tokenizer"
PY
"$pebench" compare "$work/bpe.h5" --metric bpb > "$work/compare.txt" 2>&1 || fail "compare --metric bpb: $(cat "$work/compare.txt")"
grep -q "bpb@256" "$work/compare.txt" || fail "compare --metric bpb shows bpb@L: $(head -2 "$work/compare.txt")"
grep -q "pk@L_train" "$work/compare.txt" || fail "compare shows passkey accuracy at the train length"
"$pebench" compare "$work/bpe.h5" --metric nats > "$work/bad.txt" 2>&1
[[ $? -eq 2 ]] && grep -q -- '--metric "nats": expected ppl | bpb' "$work/bad.txt" || fail "a bad --metric: $(cat "$work/bad.txt")"
"$pebench" report "$work/bpe.h5" -o "$work/report.html" --metric bpb > /dev/null 2>&1 || fail "report --metric bpb"
grep -q "Passkey retrieval" "$work/report.html" && grep -q "Bits per byte vs evaluation length" "$work/report.html" ||
  fail "the report draws the passkey heat map and bits per byte"
$python - "$work/bpe.h5" <<'PY' || fail "python loader: bpb and passkey"
import sys
import pebench_store
store = pebench_store.load(sys.argv[1])
for run in store["runs"]:
    assert run["tokenizer"]["spec"].startswith("bpe:300")
    assert run["eval"]["passkey"]["accuracy"].shape == (3, 3)
    assert abs(pebench_store.bits_per_byte(run, run["eval"]["ppl"])[-1] - run["eval"]["bpb"][-1]) < 1e-12
rows = pebench_store.compare(store["runs"], metric="bpb")
assert all("bpb@256" in row for row in rows), rows
PY
# A second study on the same corpus: the cached tokenizer and tokens, no new file.
before=$(ls -l --time-style=+%s.%N "$work/pebench-cache" | md5sum)
"$pebench" run "$work/bpe.ini" --store "$work/again.h5" --encoding none --threads-per-rank 1 > "$work/again.log" 2>&1 ||
  fail "second study: $(tail -2 "$work/again.log")"
[[ $(ls -l --time-style=+%s.%N "$work/pebench-cache" | md5sum) == "$before" ]] || fail "the second study retrained or re-encoded"
# Merge carries the tokenizer model.
"$pebench" merge "$work/bpe.h5" "$work/again.h5" -o "$work/merged.h5" > /dev/null 2>&1 || fail "merge of tokenized stores"
$python -c "
import h5py, sys
with h5py.File('$work/merged.h5', 'r') as f:
    assert all('tokenizer/model' in run for run in f['runs'].values())
" || fail "merged runs keep their tokenizer model"

# An exported BPE model carries its tokenizer.
alibi=$($python -c "
import h5py
with h5py.File('$work/bpe.h5', 'r') as f:
    print(next(k for k, r in f['runs'].items() if r.attrs['encoding'] == b'alibi'))")
"$pebench" export "$work/bpe.h5" "$alibi" -o "$work/exported" > /dev/null 2>&1 || fail "export of a BPE run"
cmp -s "$work/exported/tokenizer.model" <(cat "$work"/pebench-cache/tokenizer-*.model) || fail "the export's tokenizer.model is the run's"
grep -q '"type": "sentencepiece"' "$work/exported/tokenizer.json" || fail "tokenizer.json names SentencePiece: $(cat "$work/exported/tokenizer.json")"

# pebench tokenize, then a tokens: study with that model: same tokens, so the same numbers.
"$pebench" tokenize "$work/docs" --tokenizer bpe:300 --eval-source "$work/test.txt" -o "$work/tok" > "$work/tok.log" 2>&1 ||
  fail "pebench tokenize: $(cat "$work/tok.log")"
for file in train.bin val.bin tokenizer.model; do [[ -s $work/tok/$file ]] || fail "tokenize wrote no $file"; done
cmp -s "$work/tok/tokenizer.model" <(ls "$work"/pebench-cache/tokenizer-*.model | xargs cat) || fail "tokenize trains the model a study trains"
cat > "$work/tokens.ini" <<INI
encoding = alibi
[data]
source = tokens:$work/tok/train.bin
eval_source = tokens:$work/tok/val.bin
tokenizer = spm:$work/tok/tokenizer.model
vocab_size = 300
passkey_mix = 0.2
[model]
d_model = 16
heads = 2
layers = 1
[train]
seq_len = 64
steps = 20
batch = 8
log_every = 10
[eval]
lengths = 128,256
tokens = 1024
passkey = true
passkey_depths = 3
passkey_trials = 2
INI
"$pebench" run "$work/tokens.ini" --store "$work/tokens.h5" --threads-per-rank 1 > "$work/tokens.log" 2>&1 ||
  fail "tokens: study: $(tail -2 "$work/tokens.log")"
$python - "$work/bpe.h5" "$work/tokens.h5" <<'PY' || fail "a tokens: study on pebench tokenize's files gives the text study's numbers"
import sys, h5py, numpy as np
def alibi(path):
    with h5py.File(path, "r") as f:
        run = next(r for r in f["runs"].values() if r.attrs["encoding"] == b"alibi")
        return {k: run[k][()] for k in ("eval/ppl", "eval/bpb", "eval/passkey/accuracy", "train/loss")}
a, b = alibi(sys.argv[1]), alibi(sys.argv[2])
for key in a:
    assert np.array_equal(a[key], b[key]), (key, a[key], b[key])
PY

# Byte level: bits per byte is log2(ppl), both ways.
cat > "$work/bytes.ini" <<INI
[data]
source = text:$work/docs
[model]
d_model = 16
heads = 2
layers = 1
[train]
seq_len = 16
steps = 4
batch = 4
log_every = 2
[eval]
lengths = 32
tokens = 256
INI
"$pebench" run "$work/bytes.ini" --store "$work/bytes.h5" --threads-per-rank 1 > "$work/bytes.log" 2>&1 || fail "byte-level study: $(tail -2 "$work/bytes.log")"
$python - "$work/bytes.h5" <<'PY' || fail "byte-level bpb = log2(ppl)"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    for run in f["runs"].values():
        assert np.array_equal(run["eval/bytes"][()], run["eval/tokens"][()].astype(float))
        assert np.allclose(run["eval/bpb"][()], np.log2(run["eval/ppl"][()]), rtol=1e-12, atol=0)
        assert "tokenizer" not in run.attrs and "tokenizer" not in run
PY

# A store laid out before bits per byte existed: its pending run resumes and finishes
# without them (its layout is kept), instead of failing on a dataset it never planned.
$python - "$work/bytes.h5" <<'PY' || fail "made an older layout"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    index = f["index"][()]
    index[0]["status"] = b"pending"
    f["index"][0] = index[0]
    run = f["runs"][index[0]["run_id"].decode()]
    del run["eval/bpb"], run["eval/bytes"]
    del run.attrs["extra_datasets"]  # as in stores made before the attribute, too
PY
"$pebench" run "$work/bytes.ini" --store "$work/bytes.h5" --resume --threads-per-rank 1 > "$work/older.log" 2>&1 ||
  fail "resuming an older layout: $(tail -2 "$work/older.log")"
grep -q "1 of 1 runs to do" "$work/older.log" || fail "the pending run was not run again: $(head -1 "$work/older.log")"
$python -c "
import h5py
with h5py.File('$work/bytes.h5', 'r') as f:
    assert f['index'][0]['status'] == b'done', f['index'][0]
    assert 'eval/bpb' not in list(f['runs'].values())[0]
" || fail "the resumed older run is done, with its old layout"

# Bad input: exit 2, one line naming file, key and value, and nothing written.
bad() {  # bad NAME EXPECTED-TEXT OVERRIDES...
  local name=$1 expected=$2
  shift 2
  mkdir -p "$work/bad_$name"
  "$pebench" run "$work/bpe.ini" --store "$work/bad_$name/s.h5" "$@" > "$work/bad_$name.log" 2>&1
  local code=$?
  [[ $code -eq 2 ]] || fail "$name: exit $code, expected 2: $(cat "$work/bad_$name.log")"
  [[ $(wc -l < "$work/bad_$name.log") -eq 1 ]] || fail "$name: not one line: $(cat "$work/bad_$name.log")"
  grep -qF -- "$expected" "$work/bad_$name.log" || fail "$name: expected '$expected' in: $(cat "$work/bad_$name.log")"
  [[ -z $(ls -A "$work/bad_$name") ]] || fail "$name: wrote $(ls -A "$work/bad_$name")"
}
bad unknown_tokenizer '--data.tokenizer = "wordpiece:300": expected bytes | bpe:N' --data.tokenizer wordpiece:300
bad vocab_over_uint16 'tokenizer = "bpe:70000": expected' --data.tokenizer bpe:70000
bad vocab_over_corpus 'Vocabulary size too high' --data.tokenizer bpe:60000
bad missing_eval_source "corpus file '$work/nope.txt' not found" --data.eval_source "text:$work/nope.txt"
bad eval_source_kind 'data.eval_source = "tokens:x.bin": must be the kind of data.source' --data.eval_source tokens:x.bin
bad missing_spm "spm:$work/nope.model" --data.tokenizer "spm:$work/nope.model"
bad task_passkey '[eval] passkey = "true": is a test on text' --data.source synthetic:copy --data.tokenizer bytes --data.eval_source none --data.passkey_mix 0
bad short_window 'a passkey prompt needs 52 tokens with bytes' --data.tokenizer bytes --train.seq_len 8 --eval.lengths 16

finish "text corpora"
