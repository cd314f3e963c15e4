#!/usr/bin/env bash
# Crafted and damaged stores (issue: hostile input, class 1). craft_stores.py makes one
# store per way a store can lie (a curve missing or empty, a dataset of the wrong rank,
# type or size, 2^40 values declared in a 100 KB file, an /index row without a group);
# every reader (compare in four formats, inspect, report, merge, export, run --resume and
# the Python loader) answers each with exit 0 or one line and exit 2, never a crash, a
# hang or a half-written output. Then the seeded fuzzer: 400 mutations of a real store
# through the same readers in-process (tests/hostile/store_fuzz.cpp).
#   damaged_store_test.sh PEBENCH PEBENCH_STORE_FUZZ
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
fuzz=${2:?usage: $0 PEBENCH PEBENCH_STORE_FUZZ}
cd "$work" || exit 1
ulimit -f 4000000  # 4 GB: a reader that writes what a crafted header declares stops here
tiny_study tiny.ini "[study]" "name = crafted" "[model]" "layers = 1" "[train]" "steps = 2" "batch = 2" \
  "[eval]" "lengths = 16,32" "tokens = 64" "[analysis]" "run = window_ppl,gradient,attention,probe,pe_geometry" \
  "sequences = 4" "windows = 1,4,16" "[grid]" "encoding = alibi,learned"
"$pebench" run tiny.ini --store good.h5 --threads-per-rank 1 > /dev/null 2>&1 || die "tiny study"
$python "$here/craft_stores.py" good.h5 crafted > cases.txt || die "crafting the stores"
[[ $(wc -l < cases.txt) -ge 30 ]] || die "expected >= 30 crafted stores, got $(wc -l < cases.txt)"

# exit 0, or exit 2 with one line naming the store; never a signal, exit 1 or a hang.
expect_clean() {  # CASE READER CODE
  local case=$1 reader=$2 code=$3
  if [[ $code -eq 0 ]]; then return 0; fi
  if [[ $code -ne 2 ]]; then fail "$case: $reader exit $code: $(head -c 200 err.txt)"; return; fi
  [[ $(wc -l < err.txt) -eq 1 ]] || fail "$case: $reader wrote $(wc -l < err.txt) lines"
  grep -q "crafted/$case.h5\|r.h5" err.txt || fail "$case: $reader's message does not name the store: $(cat err.txt)"
}
refused=0
while read -r case; do
  store=crafted/$case.h5
  timeout 30 "$pebench" compare "$store" > out.txt 2> err.txt
  code=$?
  expect_clean "$case" compare $code
  # The other formats and inspect only differ once the store has been read.
  [[ $code -eq 0 ]] && for reader in "compare --format csv" "compare --format json" "compare --format markdown" inspect; do
    timeout 30 "$pebench" $reader "$store" > out.txt 2> err.txt
    expect_clean "$case" "$reader" $?
  done
  rm -rf r.html m.h5 exported
  timeout 30 "$pebench" report "$store" -o r.html > out.txt 2> err.txt
  code=$?
  expect_clean "$case" report $code
  [[ $code -ne 0 && -e r.html ]] && fail "$case: a refused report left r.html"
  timeout 30 "$pebench" merge "$store" -o m.h5 > out.txt 2> err.txt
  code=$?
  expect_clean "$case" merge $code
  [[ $code -ne 0 && ( -e m.h5 || -e m.h5.partial ) ]] && fail "$case: a refused merge left its output"
  timeout 30 "$pebench" export "$store" --all -o exported > out.txt 2> err.txt
  expect_clean "$case" export $?
  cp "$store" r.h5
  timeout 60 "$pebench" run tiny.ini --store r.h5 --resume --threads-per-rank 1 > out.txt 2> err.txt
  code=$?
  expect_clean "$case" "run --resume" $code
  [[ $code -eq 2 ]] && { ((refused++)); cmp -s "$store" r.h5 || fail "$case: a refused resume changed the store"; }
  [[ -e r.h5.partial ]] && fail "$case: run --resume left r.h5.partial"
  rm -f r.h5 r.h5.lock
  PYTHONPATH="$here/../../results/python" timeout 30 $python -c "
import sys, pebench_store
try:
    pebench_store.load(sys.argv[1])
except pebench_store.StoreError as error:
    assert '\n' not in str(error), error
" "$store" > out.txt 2> err.txt || fail "$case: the Python loader raised something else: $(tail -1 err.txt)"
done < cases.txt
# Most cases must be refused, not read: a check that never engages would pass above too.
[[ $refused -ge 25 ]] || fail "run --resume refused only $refused of $(wc -l < cases.txt) crafted stores"

# The fuzzer, seeded so that a failure replays: no crash, hang or unexpected exception.
mkdir fuzz
"$fuzz" good.h5 fuzz 20261130 400 > fuzz.txt 2>&1 || fail "fuzzer: $(grep FAIL fuzz.txt | head -5)"
tail -1 fuzz.txt
finish "damaged stores ($(wc -l < cases.txt) crafted, $refused refused by resume)"
