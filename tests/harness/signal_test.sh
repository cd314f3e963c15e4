#!/usr/bin/env bash
# Stop signals: SIGTERM to a single-process run and SIGUSR1 to mpirun (which forwards it
# to every rank) mid-study → every rank checkpoints at the next step boundary, marks its
# run pending, exit code 3 → `--resume` continues from the checkpoints → the store equals
# an uninterrupted run's bit for bit, and the checkpoints are gone.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"

cat > "$work/signal.ini" <<'INI'
[model]
d_model = 32
layers = 1
heads = 2
[train]
seq_len = 32
steps = 800
batch = 8
log_every = 50
checkpoint_every = 1000
[eval]
lengths = 32,64,128
tokens = 2048
[grid]
encoding = alibi,randomized:rope
INI
study=(run "$work/signal.ini" --threads-per-rank 1)
"$pebench" "${study[@]}" --store "$work/reference.h5" > "$work/reference.log" 2>&1 || { echo "FAIL reference"; exit 1; }

# check NAME SIGNAL LAUNCHER...: start, signal the launcher once training is under way,
# expect exit 3 with pending runs and checkpoints, resume, compare.
check() {
  local name=$1 signal=$2
  shift 2
  local store=$work/$name.h5
  "$@" "$pebench" "${study[@]}" --store "$store" > "$work/$name.log" 2>&1 &
  local launcher=$!
  # Training is under way once the checkpoint folder exists (made when a run starts) and
  # a moment has passed; checkpoint_every exceeds the steps, so only the signal makes one.
  for _ in $(seq 100); do [[ -d "$store.ckpt" ]] && break; sleep 0.1; done
  sleep 0.5
  local signalled=$SECONDS
  kill -"$signal" "$launcher"
  wait "$launcher"
  local code=$?
  local problems=()
  [[ $code -eq 3 ]] || problems+=("exit $code, expected 3")
  ((SECONDS - signalled <= 10)) || problems+=("took $((SECONDS - signalled)) s to stop")
  grep -q "INTERRUPTED (checkpointed)" "$work/$name.log" || problems+=("no run reported interrupted")
  grep -q -- "continue with the same command and --resume: pebench run .*signal.ini --threads-per-rank 1 --store $store --resume" "$work/$name.log" || problems+=("no command to resume")
  ls "$store.ckpt"/*.pt > /dev/null 2>&1 || problems+=("no checkpoint in $store.ckpt")
  "$pebench" inspect "$store" | grep -q pending || problems+=("no run left pending")
  "$@" "$pebench" "${study[@]}" --store "$store" --resume --verbose > "$work/$name.resume.log" 2>&1 || problems+=("resume failed")
  grep -q "continuing from $store.ckpt/" "$work/$name.resume.log" || problems+=("resume did not continue from a checkpoint")
  /usr/bin/python3 "$here/same_results.py" "$work/reference.h5" "$store" > "$work/$name.diff" || problems+=("$(cat "$work/$name.diff")")
  [[ ! -e "$store.ckpt" ]] || problems+=("checkpoints left after the study completed")
  if ((${#problems[@]})); then
    echo "FAIL $name:"; printf '  %s\n' "${problems[@]}"; cat "$work/$name.log"; failures=$((failures + 1))
  else
    echo "ok   $name: exit 3, resumed from checkpoints, identical to the uninterrupted run"
  fi
}

check sigterm-single-process TERM env
check sigusr1-mpirun USR1 mpirun -np 2
check sigint-single-process INT env

# A grid that grew (another seed) adds its runs to the same store; finished ones stay.
"$pebench" "${study[@]}" --store "$work/reference.h5" --grid.seed 0,1 --resume > "$work/grown.log" 2>&1 || { echo "FAIL grown grid"; failures=$((failures + 1)); }
if grep -q "2 of 4 runs to do" "$work/grown.log" && [[ $("$pebench" inspect "$work/reference.h5" | grep -c " done ") -eq 4 ]]; then
  echo "ok   grown grid: 2 new runs added and done, 2 finished runs kept"
else
  echo "FAIL grown grid:"; cat "$work/grown.log"; failures=$((failures + 1))
fi

finish
