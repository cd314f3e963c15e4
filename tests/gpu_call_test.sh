#!/usr/bin/env bash
# tests/gpu_call.sh, the one device call of a GPU session, without a GPU (cpu mode, the
# grid step on the quick grid): a bad step exits 2 with one line before anything runs; a
# budget too short for the one-rank grid skips it and says so, runs the 2-rank one, brings
# its line back in $OUT and does not mark the step done; the same call with time enough
# runs the rest and marks it done, and the table then has the speed-up; a third call finds
# it done. The budgets are what the script gives each grid layout (90 s for one rank, 45 s
# for K ranks) around the 60 s a benchmark step needs to start.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
call=$here/gpu_call.sh
build=$work/build
mkdir -p "$build"
ln -s "$pebench" "$build/pebench"
ln -s "$(dirname "$pebench")/pebench_bench" "$build/pebench_bench"
export GPU_CALL_BUILD=$build BENCH_DEVICE=cpu BENCH_QUICK=1 PYTHON=$python OUT=$work/out

bash "$call" 100 grid nosuch > "$work/bad.txt" 2>&1
status=$?
[[ $status -eq 2 ]] || fail "an unknown step: exit $status, not 2"
[[ $(wc -l < "$work/bad.txt") -eq 1 ]] && grep -q "no step 'nosuch' (build tests determinism train grid" "$work/bad.txt" ||
  fail "an unknown step: not one line naming it and the steps: $(cat "$work/bad.txt")"
[[ -e $work/out ]] && fail "an unknown step: \$OUT written"

# 75 s: the step starts (60), the one-rank grid (90) does not fit, the 2-rank one (45) does.
bash "$call" 75 grid > "$work/short.txt" 2>&1 || fail "short call: exit $?: $(tail -3 "$work/short.txt")"
grep -q '^skipped (out of time, needs ~90 s): grid of 1 ranks' "$work/short.txt" ||
  fail "short call: the one-rank grid not skipped: $(cat "$work/short.txt")"
grep -q 'bench=grid runs=5 ranks=2 mps=no seconds=' "$work/out/raw.txt" || fail "short call: no 2-rank line in \$OUT/raw.txt"
grep -q 'ranks=1 ' "$work/out/raw.txt" && fail "short call: a one-rank line, though skipped"
grep -qx grid "$build/gpu_call.done" && fail "short call: grid marked done with a layout skipped"
grep -q '^| 2 | [0-9.]* s | - |$' "$work/out/gpu_call.txt" || fail "short call: no table row in \$OUT/gpu_call.txt"

bash "$call" 400 grid > "$work/long.txt" 2>&1 || fail "long call: exit $?: $(tail -3 "$work/long.txt")"
grep -q 'ranks=1 mps=no' "$work/out/raw.txt" || fail "long call: no one-rank line"
grep -qx grid "$build/gpu_call.done" || fail "long call: grid not marked done"
grep -qE '^\| 2 \| [0-9.]+ s \([0-9.]+x\) \| - \|$' "$work/long.txt" || fail "long call: no speed-up in the table: $(tail -5 "$work/long.txt")"

bash "$call" 400 grid > "$work/again.txt" 2>&1
grep -q '^== grid: done in an earlier call' "$work/again.txt" || fail "third call: grid run again: $(head -3 "$work/again.txt")"
finish "gpu_call"
