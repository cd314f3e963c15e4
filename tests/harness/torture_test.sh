#!/usr/bin/env bash
# Torture: a study on 2 ranks, one rank SIGKILLed at many moments (during layout
# creation, a checkpoint write, the final results write, between results and status,
# and at random times), resumed each time. Afterwards every run is done, its curves equal
# an uninterrupted reference bit for bit, runs finished before a kill were not computed
# again, and h5dump and h5py open the file.
# usage: torture_test.sh PEBENCH [TRIALS_AT_RANDOM_TIMES]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
random_trials=${2:-3}
RANDOM=${TORTURE_SEED:-20261123}  # reproducible moments; set TORTURE_SEED to vary them

cat > "$work/torture.ini" <<'INI'
[model]
d_model = 32
layers = 1
heads = 2
[train]
seq_len = 32
steps = 300
batch = 8
log_every = 25
checkpoint_every = 40
warmup = 10
[eval]
lengths = 32,64,128
tokens = 2048
[grid]
encoding = alibi,rope,learned,randomized:rope
seed = 0,1
INI
study=(run "$work/torture.ini" --threads-per-rank 1)

mpirun -np 2 "$pebench" "${study[@]}" --store "$work/reference.h5" > "$work/reference.log" 2>&1 ||
  { cat "$work/reference.log"; echo "FAIL reference run"; exit 1; }

# The summary (timings, rank, host) of every finished run: identical after a resume
# only if the run was not computed again.
finished_summaries() {
  [[ -e "$1" ]] || return 0
  $python - "$1" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as store:
    for row in store["index"][()]:
        if row["status"] in (b"done", b"diverged"):
            run = row["run_id"].decode()
            print(run, store["runs"][run]["summary"][()].tobytes().hex())
PY
}

# trial NAME STORE [ENV...]: one killed attempt (a fault point, or a random-time kill
# when no env is given), then resumes until the study completes; checks everything.
trial() {
  local name=$1 store=$2
  shift 2
  rm -rf "$store" "$store".*
  local attempt=0 code
  if (($#)); then
    env "$@" mpirun -np 2 "$pebench" "${study[@]}" --store "$store" > "$work/$name.0.log" 2>&1
    code=$?
  else
    # At a random moment of the study (0.3 to 4.2 s in; it takes ~5 s), SIGKILL a random rank.
    mpirun -np 2 "$pebench" "${study[@]}" --store "$store" > "$work/$name.0.log" 2>&1 &
    local launcher=$!
    sleep "$((RANDOM % 40 + 3))e-1"
    local ranks
    ranks=($(pgrep -f "^$pebench run $work/torture.ini .*--store $store"))  # the ranks, not mpirun
    ((${#ranks[@]})) && kill -9 "${ranks[RANDOM % ${#ranks[@]}]}"
    wait "$launcher" 2> /dev/null
    code=$?
  fi
  [[ $code -ne 0 ]] || echo "  note $name: the study finished before the kill"
  # No rank of the killed job may outlive it and write on.
  pgrep -f "^$pebench run $work/torture.ini .*--store $store" > /dev/null && { echo "FAIL $name: a rank survived the job"; failures=$((failures + 1)); }
  finished_summaries "$store" > "$work/$name.before"
  while ((attempt < 3)); do
    attempt=$((attempt + 1))
    mpirun -np 2 "$pebench" "${study[@]}" --store "$store" --resume > "$work/$name.$attempt.log" 2>&1 && break
  done
  local problems=()
  [[ $(tail -c 200 "$work/$name.$attempt.log") == *"store: $store"* ]] || problems+=("resume did not complete: $(tail -3 "$work/$name.$attempt.log")")
  $python "$here/same_results.py" "$work/reference.h5" "$store" > "$work/$name.diff" || problems+=("$(cat "$work/$name.diff")")
  finished_summaries "$store" > "$work/$name.after"
  local recomputed
  recomputed=$(comm -23 <(sort "$work/$name.before") <(sort "$work/$name.after"))
  [[ -z "$recomputed" ]] || problems+=("finished before the kill, computed again: $recomputed")
  h5dump -H "$store" > /dev/null 2>&1 || problems+=("h5dump -H cannot read it")
  [[ ! -e "$store.partial" && ! -e "$store.ckpt" ]] || problems+=("left $(ls -d "$store".*)")
  if ((${#problems[@]})); then
    echo "FAIL $name:"; printf '  %s\n' "${problems[@]}"; failures=$((failures + 1))
    tail -5 "$work/$name.0.log"
  else
    echo "ok   $name: killed (exit $code), $(wc -l < "$work/$name.before") runs finished before, resumed in $attempt"
  fi
}

trial layout-creation "$work/t1.h5" PEBENCH_FAULT_AT=mid_layout:3 PEBENCH_FAULT_RANK=1
trial layout-rename "$work/t2.h5" PEBENCH_FAULT_AT=before_layout_rename:1 PEBENCH_FAULT_RANK=0
trial checkpoint-write "$work/t3.h5" PEBENCH_FAULT_AT=before_checkpoint_rename:4 PEBENCH_FAULT_RANK=1
trial final-write "$work/t4.h5" PEBENCH_FAULT_AT=mid_results:2 PEBENCH_FAULT_RANK=1
trial before-status "$work/t5.h5" PEBENCH_FAULT_AT=before_status:2 PEBENCH_FAULT_RANK=0
for ((i = 1; i <= random_trials; ++i)); do trial "random-$i" "$work/r$i.h5"; done

finish
