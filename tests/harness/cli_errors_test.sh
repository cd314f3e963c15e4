#!/usr/bin/env bash
# Bad input through the real command line: exit code 2, one line on stderr naming what
# is wrong, and no file created or changed anywhere under the working folder.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
logs=$(mktemp -d)
at_exit='rm -rf "$logs"'
cases=0

snapshot() { (cd "$work" && find . -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; find . | sort); }

# expect_error NAME EXPECTED_TEXT COMMAND...: exit 2, one stderr line holding the text,
# and the folder exactly as before.
expect_error() {
  local name=$1 expected=$2
  shift 2
  cases=$((cases + 1))
  local before after
  before=$(snapshot)
  (cd "$work" && "$@") > "$logs/out" 2> "$logs/err"
  local code=$?
  after=$(snapshot)
  local lines  # mpirun adds its own banner; pebench itself must say one line
  lines=$(grep -c '^pebench:' "$logs/err")
  if [[ $code -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$expected" "$logs/err" || [[ "$before" != "$after" ]]; then
    echo "FAIL $name: exit $code, stderr:"; cat "$logs/err"
    [[ "$before" != "$after" ]] && { echo "  files changed:"; diff <(echo "$before") <(echo "$after") | head; }
    failures=$((failures + 1))
  else
    echo "ok   $name: $(cat "$logs/err")"
  fi
}

cd "$work"
tiny='[model]\nd_model = 16\nlayers = 1\nheads = 2\n[train]\nsteps = 3\nbatch = 2\nseq_len = 16\n[eval]\nlengths = 32\ntokens = 64\n'
printf "$tiny[grid]\nencoding = alibi\n" > good.ini
mkdir sub
printf '[train]\nstepz = 5\n' > unknown.ini
printf '[trainer]\nsteps = 5\n' > section.ini
printf '[train]\nsteps = ten\n' > nonnumeric.ini
printf '[train]\nbatch = -4\n' > negative.ini
printf '[model]\nheads = 3\n' > heads.ini
printf '[data]\nsource = text:missing.txt\n' > corpus.ini
printf '[train]\nseq_len = 128\n[eval]\nlengths = 64,256\n' > short.ini
printf 'encoding = transformer-xl\n' > encoding.ini
printf '[grid]\nencoding = alibi,rotary\n' > gridencoding.ini
printf '[grid]\nfoo = 1,2\n' > gridaxis.ini
printf '[grid]\ndata.holdout = 0.1,0.2\n' > griddata.ini
printf '[study]\nname = ../evil\n' > name.ini
printf '[eval]\nprotocol = overlapping\n' > protocol.ini
printf '[eval]\nprotocol = sliding\nstride = 100\nlengths = 64,128\n' > stride.ini
printf '[model]\nscale_embeddings = maybe\n' > bool.ini
printf '[data]\nholdout = 1.5\n' > holdout.ini
printf 'encoding = randomized:rope\n[encoding]\nrandom_max_position = 100\n' > randomized.ini
printf 'encoding = rope\n[encoding]\nrope_scaling = pi,linear\n' > scaling.ini
head -c 3000 /usr/share/common-licenses/GPL-3 > tiny.txt
: > empty.txt
printf '[data]\nsource = text:tiny.txt\n' > tinycorpus.ini
printf '[data]\nsource = text:empty.txt\n' > emptycorpus.ini
# Token files (uint16 little-endian): one with an id past the vocabulary, one odd-sized.
$python -c "import numpy; numpy.arange(0, 20000, dtype=numpy.uint16).__mod__(300).tofile('big_ids.bin')"
head -c 20001 /dev/zero > odd.bin
printf "$tiny[data]\nsource = tokens:big_ids.bin\nvocab_size = 256\n" > bigids.ini
printf "$tiny[data]\nsource = tokens:odd.bin\n" > odd.ini
printf 'precious' > existing.h5

# Real stores to break: one finished, then copies that are damaged in different ways.
"$pebench" run good.ini --store real.h5 > /dev/null || { echo "FAIL could not make a store"; exit 1; }
rm -rf real.h5.ckpt
size=$(stat -c %s real.h5)
head -c $((size / 2)) real.h5 > truncated.h5
$python - <<'PY'
import random, shutil, h5py, numpy
shutil.copy("real.h5", "corrupted.h5")  # the same 4 KiB of noise over its object headers every time
with open("corrupted.h5", "r+b") as f:
    f.seek(800)
    f.write(random.Random(1).randbytes(4096))
with h5py.File("foreign.h5", "w") as f:
    f["data"] = numpy.arange(4)
shutil.copy("real.h5", "newer.h5")
with h5py.File("newer.h5", "r+") as f:
    f.attrs["schema_version"] = numpy.int64(2)
shutil.copy("real.h5", "conflicting.h5")
with h5py.File("conflicting.h5", "r+") as f:
    run = next(iter(f["runs"]))
    f["runs"][run]["eval/ppl"][0] += 1.0
PY

expect_error "unknown key" "unknown.ini: [train] stepz" "$pebench" run unknown.ini --store store.h5
expect_error "unknown section" "section.ini: [trainer]" "$pebench" run section.ini --store store.h5
expect_error "non-numeric value" 'nonnumeric.ini: [train] steps = "ten"' "$pebench" run nonnumeric.ini --store store.h5
expect_error "negative value" 'negative.ini: [train] batch = "-4": expected a positive integer' "$pebench" run negative.ini --store store.h5
expect_error "negative on the command line" '--train.lr = "-0.1": expected a positive number' "$pebench" run good.ini --train.lr=-0.1 --store store.h5
expect_error "bad value on the command line" "--train.steps = \"abc\"" "$pebench" run good.ini --train.steps abc --store store.h5
expect_error "heads not dividing d_model" "heads.ini: [model] heads = \"3\"" "$pebench" run heads.ini --store store.h5
expect_error "eval shorter than train" "shorter than train.seq_len 128" "$pebench" run short.ini --store store.h5
expect_error "unknown encoding" "unknown encoding; allowed: none | sinusoidal | learned | rope | xpos | alibi | sandwich | t5 | kerple_log | kerple_power | fire | randomized:<any of these>" "$pebench" run encoding.ini --store store.h5
expect_error "unknown encoding in the grid" 'gridencoding.ini: [grid] encoding = "rotary"' "$pebench" run gridencoding.ini --store store.h5
expect_error "unknown grid axis" "unknown grid axis 'foo'" "$pebench" run gridaxis.ini --store store.h5
expect_error "data key as grid axis" "data keys cannot be grid axes, but data.source, data.tokenizer, data.documents, data.passkey_mix, data.symbols and data.lags" "$pebench" run griddata.ini --store store.h5
expect_error "study name with a path" 'name.ini: [study] name = "../evil"' "$pebench" run name.ini --store store.h5
expect_error "study name on the command line" '--study.name = "a/b"' "$pebench" run good.ini --study.name a/b --store store.h5
expect_error "unknown choice" 'protocol.ini: [eval] protocol = "overlapping": expected nonoverlapping | sliding' "$pebench" run protocol.ini --store store.h5
expect_error "sliding stride too long" 'stride' "$pebench" run stride.ini --store store.h5
expect_error "eval_every not below steps" '--train.eval_every = "3": must be 0 (off) or below train.steps = 3' "$pebench" run good.ini --train.eval_every 3 --store store.h5
expect_error "unknown cuda_graph" '--train.cuda_graph = "on": expected auto | off' "$pebench" run good.ini --train.cuda_graph on --store store.h5
expect_error "not a boolean" 'bool.ini: [model] scale_embeddings = "maybe": expected true | false' "$pebench" run bool.ini --store store.h5
expect_error "fraction out of range" 'holdout.ini: [data] holdout = "1.5"' "$pebench" run holdout.ini --store store.h5
expect_error "randomized range too short" "random_max_position" "$pebench" run randomized.ini --store store.h5
expect_error "unknown rope scaling" 'rope_scaling = "pi,linear"' "$pebench" run scaling.ini --store store.h5
expect_error "unknown analysis" '--analysis.run = "window_ppl,saliency": expected none | a comma list of window_ppl, gradient, attention, probe, pe_geometry' "$pebench" run good.ini --analysis.run window_ppl,saliency --store store.h5
expect_error "analysis length past the longest eval length" '--analysis.rf_length = "4096": must be 0 or at most the longest eval length 32' "$pebench" run good.ini --analysis.rf_length 4096 --store store.h5
expect_error "missing corpus" "missing.txt' not found" "$pebench" run corpus.ini --store store.h5
expect_error "empty corpus" "corpus is empty" "$pebench" run emptycorpus.ini --store store.h5
expect_error "corpus shorter than the longest eval length" "held-out split has" "$pebench" run tinycorpus.ini --store store.h5
expect_error "token ids past the vocabulary" "big_ids.bin" "$pebench" run bigids.ini --store store.h5
expect_error "token file of odd size" "odd.bin" "$pebench" run odd.ini --store store.h5
expect_error "missing study" "study file not found" "$pebench" run nope.ini --store store.h5
expect_error "unknown flag" "unknown option '--colour'" "$pebench" run good.ini --colour --store store.h5
# A misspelt key before its value: the key named with the one meant, not "too many positional options".
expect_error "misspelt key with a value" "unknown option '--train.checkpoint_evry' (did you mean '--train.checkpoint_every'?)" "$pebench" run good.ini --train.checkpoint_evry 50 --store store.h5
expect_error "key without its section" "unknown option '--steps' (did you mean '--train.steps'?)" "$pebench" run good.ini --steps=5 --store store.h5
expect_error "two study files" "one STUDY file, then flags" "$pebench" run good.ini good.ini --store store.h5
expect_error "bad shard" '--shard "2/2": expected i/n with 0 <= i < n' "$pebench" run good.ini --shard 2/2 --store store.h5
expect_error "unparsable shard" '--shard "x": expected i/n' "$pebench" run good.ini --shard x --store store.h5
expect_error "zero threads" '--threads-per-rank "0"' "$pebench" run good.ini --threads-per-rank 0 --store store.h5
expect_error "unknown device" '--device "tpu": expected cpu | cuda' "$pebench" run good.ini --device tpu --store store.h5
expect_error "unknown attention" '--attention "flash": expected auto | explicit | fused' "$pebench" run good.ini --attention flash --store store.h5
# --attention fused needs torch >= 2.1: refused up front by Debian's 1.13, run by a torch 2.x build.
(cd "$work" && "$pebench" run good.ini --attention fused --store fused.h5) > "$logs/out" 2>&1
if grep -q "has no scaled_dot_product_attention" "$logs/out"; then
  expect_error "fused attention on an old LibTorch" '--attention "fused": this LibTorch (' "$pebench" run good.ini --attention fused --store store.h5
elif [[ ! -s $work/fused.h5 ]]; then
  echo "FAIL --attention fused on this LibTorch: neither refused nor run:"; cat "$logs/out"; failures=$((failures + 1))
fi
rm -rf "$work/fused.h5" "$work/fused.h5.ckpt"
expect_error "unwritable store" "does not exist or is not writable" "$pebench" run good.ini --store /nonexistent/dir/store.h5
expect_error "unknown command" "unknown command 'frobnicate'" "$pebench" frobnicate
expect_error "under mpirun, one message" "unknown.ini: [train] stepz" mpirun -np 2 "$pebench" run unknown.ini --store store.h5

# pebench submit: checked before anything is rendered, written or submitted.
printf '#!/bin/bash\n#SBATCH --time={{TIME}}\nrun {{NO_SUCH}}\n' > template.sh
expect_error "unknown scheduler" '--scheduler "lsf": expected slurm | pbs' "$pebench" submit good.ini --scheduler lsf
expect_error "bad walltime" '--time "90": expected HH:MM:SS' "$pebench" submit good.ini --scheduler slurm --time 90
expect_error "walltime shorter than the warning" '--time "00:01:00": expected a walltime longer than --signal-seconds 120' "$pebench" submit good.ini --scheduler slurm --time 00:01:00
expect_error "array shards on PBS" '--array-shards "4": expected 0 with --scheduler pbs' "$pebench" submit good.ini --scheduler pbs --array-shards 4
expect_error "template placeholder unknown" "template.sh: unknown placeholder {{NO_SUCH}}" "$pebench" submit good.ini --scheduler slurm --template template.sh --dry-run
expect_error "submit a bad study" "unknown.ini: [train] stepz" "$pebench" submit unknown.ini --scheduler slurm

# Synthetic tasks: known names, lags that fit, their own vocabulary.
expect_error "unknown task" "synthetic:cpy" "$pebench" run good.ini --data.source synthetic:cpy
expect_error "lag beyond the train length" "[data] lags = \"3,17,40\": the largest lag must be below train.seq_len = 16 - 1 (the start token)" "$pebench" run good.ini --data.source synthetic:sparse_memory
expect_error "task with a vocab size" "a synthetic task sets its own vocabulary (19)" "$pebench" run good.ini --data.source synthetic:copy --data.vocab_size 100
expect_error "one-symbol alphabet" "--data.symbols = \"1\": expected an integer >= 2" "$pebench" run good.ini --data.source synthetic:copy --data.symbols 1

# Stores: never overwritten without --resume, never opened as something they are not.
expect_error "existing store" "pass --resume" "$pebench" run good.ini --store existing.h5
expect_error "not an HDF5 file" "not an HDF5 file" "$pebench" run good.ini --store existing.h5 --resume
expect_error "HDF5 but not a store" "not a pebench store" "$pebench" run good.ini --store foreign.h5 --resume
expect_error "newer schema" "schema version 2; this pebench reads versions up to 1" "$pebench" run good.ini --store newer.h5 --resume
expect_error "truncated store" "truncated file" "$pebench" run good.ini --store truncated.h5 --resume
expect_error "corrupted store, run" "corrupted.h5" "$pebench" run good.ini --store corrupted.h5 --resume
expect_error "corrupted store, compare" "corrupted.h5" "$pebench" compare corrupted.h5
expect_error "truncated store, inspect" "truncated file" "$pebench" inspect truncated.h5
expect_error "compare a non-store" "not an HDF5 file" "$pebench" compare existing.h5
expect_error "compare with a misspelt flag" "unrecognised option '--metrc' (did you mean '--metric'?)" "$pebench" compare real.h5 --metrc bpb
expect_error "changed fixed key on resume" "train.steps is 3 in the store's runs but 4 in the study now" "$pebench" run good.ini --store real.h5 --resume --train.steps 4
expect_error "merge conflicting duplicates" "with different eval/ppl" "$pebench" merge real.h5 conflicting.h5 -o merged.h5
expect_error "merge onto an existing file" "the file exists" "$pebench" merge real.h5 -o existing.h5
expect_error "merge a non-store" "not an HDF5 file" "$pebench" merge real.h5 existing.h5 -o merged.h5
expect_error "report a non-store" "not an HDF5 file" "$pebench" report existing.h5 -o report.html
expect_error "report without a store" "missing STORE" "$pebench" report -o report.html
expect_error "report into a missing folder" "-o \"no/such/dir/report.html\": cannot create" "$pebench" report real.h5 -o no/such/dir/report.html
expect_error "report onto a folder" "-o \"sub\": 'sub' is a symlink or a folder" "$pebench" report real.h5 -o sub
expect_error "report with a bad --where" "--where \"encoding\": expected KEY=VALUE" "$pebench" report real.h5 --where encoding
expect_error "compare with a bad --baseline" "--baseline \"encoding=alibi,rope\": expected KEY=VALUE (one value)" "$pebench" compare real.h5 --baseline encoding=alibi,rope
expect_error "compare against a missing baseline" "--baseline encoding=rope: no run compared has encoding = rope; its values: alibi" "$pebench" compare real.h5 --baseline encoding=rope
expect_error "report against a key that does not vary" "--baseline seed=0: seed is not a grouping key (encoding, train.seq_len)" "$pebench" report real.h5 --baseline seed=0 -o report.html

# Whole outputs to files first: `grep -q` on a pipe would cut the writer off.
"$pebench" encodings > "$logs/encodings.txt"
# Every encoding with its kind, extrapolates yes/no and paper; the wrapper and the window option.
for pattern in "^alibi +fixed bias +yes +Press et al. 2022" "^learned +additive +no +Radford" \
    "^t5 +learned bias +yes +Raffel et al. 2020, arXiv 1910.10683" "^sandwich +fixed bias +yes" \
    "^kerple_log +learned bias +yes +Chi et al. 2022, arXiv 2205.09921" "^kerple_power +learned bias" \
    "^fire +learned bias +yes +Li et al. 2023, arXiv 2310.04418" "^xpos +rotary +yes +Sun et al. 2022" \
    "options: encoding.rope_base, encoding.rope_scaling" "^randomized:<base> +sampler +yes +Ruoss et al. 2023" \
    "options: model.attention_window = w"; do
  grep -qE -- "$pattern" "$logs/encodings.txt" || fail "encodings: no line matches '$pattern'"
done
"$pebench" run --help > "$logs/help.txt"
grep -q -- "--train.steps" "$logs/help.txt" || fail "run --help"
"$pebench" run good.ini --dry-run --store store.h5 > "$logs/dry.txt"
grep -q "^alibi-L16-s0-" "$logs/dry.txt" || fail "dry-run"
[[ ! -e store.h5 ]] || fail "dry-run wrote a store"

finish "$cases bad-input cases"
