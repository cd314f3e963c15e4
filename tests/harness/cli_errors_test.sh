#!/usr/bin/env bash
# Bad input through the real command line: exit code 2, one line on stderr naming what
# is wrong, and no store file created or changed.
set -uo pipefail
pebench=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
failures=0

# expect_error NAME EXPECTED_TEXT COMMAND...: exit 2, one stderr line holding the text, no store.
expect_error() {
  local name=$1 expected=$2
  shift 2
  rm -f "$work/store.h5"
  "$@" > "$work/out" 2> "$work/err"
  local code=$?
  local lines  # mpirun adds its own banner; pebench itself must say one line
  lines=$(grep -c '^pebench:' "$work/err")
  if [[ $code -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$expected" "$work/err" || [[ -e "$work/store.h5" ]]; then
    echo "FAIL $name: exit $code, stderr:"; cat "$work/err"; failures=$((failures + 1))
  else
    echo "ok   $name: $(cat "$work/err")"
  fi
}

printf '[train]\nsteps = 5\n[grid]\nencoding = alibi\n' > "$work/good.ini"
printf '[train]\nstepz = 5\n' > "$work/unknown.ini"
printf '[data]\nsource = text:%s/missing.txt\n' "$work" > "$work/corpus.ini"
printf '[train]\nseq_len = 128\n[eval]\nlengths = 64,256\n' > "$work/short.ini"
printf 'encoding = transformer-xl\n' > "$work/encoding.ini"
head -c 3000 /usr/share/common-licenses/GPL-3 > "$work/tiny.txt"
printf '[data]\nsource = text:%s/tiny.txt\n' "$work" > "$work/tinycorpus.ini"

expect_error "unknown key" "unknown.ini: [train] stepz" "$pebench" run "$work/unknown.ini" --store "$work/store.h5"
expect_error "bad value" "--train.steps = \"abc\"" "$pebench" run "$work/good.ini" --train.steps abc --store "$work/store.h5"
expect_error "missing corpus" "missing.txt' not found" "$pebench" run "$work/corpus.ini" --store "$work/store.h5"
expect_error "short corpus" "held-out split has" "$pebench" run "$work/tinycorpus.ini" --store "$work/store.h5"
expect_error "eval shorter than train" "shorter than train.seq_len 128" "$pebench" run "$work/short.ini" --store "$work/store.h5"
expect_error "unknown encoding" "unknown encoding; allowed: none | sinusoidal | learned | rope | xpos | alibi | sandwich | t5 | kerple_log | kerple_power | fire | randomized:<any of these>" "$pebench" run "$work/encoding.ini" --store "$work/store.h5"
expect_error "missing study" "study file not found" "$pebench" run "$work/nope.ini" --store "$work/store.h5"
expect_error "unknown flag" "unknown option '--colour'" "$pebench" run "$work/good.ini" --colour --store "$work/store.h5"
expect_error "unwritable store" "does not exist or is not writable" "$pebench" run "$work/good.ini" --store /nonexistent/dir/store.h5
expect_error "unknown command" "unknown command 'frobnicate'" "$pebench" frobnicate
expect_error "under mpirun, one message" "unknown.ini: [train] stepz" mpirun -np 2 "$pebench" run "$work/unknown.ini" --store "$work/store.h5"

# A store that exists is never overwritten without --resume.
printf 'precious' > "$work/existing.h5"
before=$(sha256sum < "$work/existing.h5")
expect_error "existing store" "pass --resume" "$pebench" run "$work/good.ini" --store "$work/existing.h5"
expect_error "not a store" "not an HDF5 file" "$pebench" run "$work/good.ini" --store "$work/existing.h5" --resume
expect_error "compare a non-store" "not an HDF5 file" "$pebench" compare "$work/existing.h5"
[[ "$(sha256sum < "$work/existing.h5")" == "$before" ]] || { echo "FAIL existing store changed"; failures=$((failures + 1)); }

# Whole outputs to files first: `grep -q` on a pipe would cut the writer off.
"$pebench" encodings > "$work/encodings.txt"
# Every encoding with its kind, extrapolates yes/no and paper; the wrapper and the window option.
for pattern in "^alibi +fixed bias +yes +Press et al. 2022" "^learned +additive +no +Radford" \
    "^t5 +learned bias +yes +Raffel et al. 2020, arXiv 1910.10683" "^sandwich +fixed bias +yes" \
    "^kerple_log +learned bias +yes +Chi et al. 2022, arXiv 2205.09921" "^kerple_power +learned bias" \
    "^fire +learned bias +yes +Li et al. 2023, arXiv 2310.04418" "^xpos +rotary +yes +Sun et al. 2022" \
    "options: encoding.rope_base, encoding.rope_scaling" "^randomized:<base> +sampler +yes +Ruoss et al. 2023" \
    "options: model.attention_window = w"; do
  grep -qE -- "$pattern" "$work/encodings.txt" || { echo "FAIL encodings: no line matches '$pattern'"; failures=$((failures + 1)); }
done
"$pebench" run --help > "$work/help.txt"
grep -q -- "--train.steps" "$work/help.txt" || { echo "FAIL run --help"; failures=$((failures + 1)); }
"$pebench" run "$work/good.ini" --dry-run --store "$work/store.h5" > "$work/dry.txt"
grep -q "^alibi-L64-s0-" "$work/dry.txt" || { echo "FAIL dry-run"; failures=$((failures + 1)); }
[[ ! -e "$work/store.h5" ]] || { echo "FAIL dry-run wrote a store"; failures=$((failures + 1)); }

echo "$failures failures"
[[ $failures -eq 0 ]]
