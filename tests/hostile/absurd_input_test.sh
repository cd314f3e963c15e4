#!/usr/bin/env bash
# Absurd inputs and early signals (issue: hostile input, classes 7 and 9, in part): a study
# path that is a folder, a FIFO or /dev/zero, a template that is /dev/zero, a walltime or
# node count past any cluster, and a store name past the file system's limit end with one
# line and exit 2 (or 1), never a hang, an abort or a core; so do numbers past a key's
# range, a grid of 10^6 runs and a model too large for the machine, before anything is
# allocated. SIGUSR1 during start-up and layout ends a run with exit 3, as it does during
# training (from main() on: see below), and SIGUSR1 to mpirun stops every rank with exit 3.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
cd "$work" || exit 1
tiny_study tiny.ini "[model]" "layers = 1" "[train]" "steps = 200" "batch = 2" \
  "[eval]" "lengths = 16,32" "tokens = 64" "[grid]" "encoding = alibi"
one_line_exit() {  # NAME ALLOWED_CODES COMMAND...: exit code in ALLOWED, one line on stderr, within 30 s
  local name=$1 allowed=$2
  shift 2
  timeout -k 5 30 "$@" > out.txt 2> err.txt
  local code=$?
  [[ " $allowed " == *" $code "* && $(grep -c '^pebench: error:' err.txt) -eq 1 && $(wc -l < err.txt) -eq 1 ]] ||
    fail "$name: exit $code, $(head -c 300 err.txt)"
}
mkdir folder.ini
mkfifo fifo.ini
one_line_exit "a folder as the study" 2 "$pebench" run folder.ini --dry-run
one_line_exit "a FIFO as the study" 2 "$pebench" run fifo.ini --dry-run
one_line_exit "/dev/zero as the study" 2 "$pebench" run /dev/zero --dry-run
one_line_exit "/dev/zero as a template" 2 "$pebench" submit tiny.ini --scheduler slurm --template /dev/zero --dry-run
one_line_exit "a walltime of 10^20 hours" 2 "$pebench" submit tiny.ini --scheduler slurm --time 99999999999999999999:00:00 --dry-run
one_line_exit "2^62 nodes" 2 "$pebench" submit tiny.ini --scheduler slurm --nodes 4611686018427387904 --dry-run
# The absurd values of the issue, each refused by its key's range (or the grid's or the
# memory estimate) before anything is built: the message names the key.
absurd() {  # KEY_IN_MESSAGE FLAG...
  local key=$1
  shift
  one_line_exit "$*" 2 "$pebench" run tiny.ini --store absurd.h5 --threads-per-rank 1 "$@"
  grep -qF -- "$key" err.txt || fail "$*: the message does not name $key: $(cat err.txt)"
  [[ -e absurd.h5 ]] && fail "$*: a store was written"
}
absurd train.steps --train.steps 9223372036854775807
absurd model.d_model --model.d_model 1099511627776
absurd model.layers --model.layers 100000000
absurd encoding.random_max_position --encoding randomized:rope --encoding.random_max_position 1000000000000
absurd data.lags --data.source synthetic:sparse_memory --data.lags ''
absurd eval.lengths --eval.lengths 16,1099511627776
absurd train.batch --train.batch 1000000000000
absurd analysis.sequences --analysis.run probe --analysis.sequences 100000000000
absurd "train.batch x train.seq_len^2" --train.batch 1000000 --train.seq_len 65536 --eval.lengths 65536 --eval.tokens 65536
seeds=$(seq -s, 0 999)
absurd "at most 100000" --grid.seed "$seeds" --grid.train.lr "$(seq -s, 1 1000 | sed 's/\([0-9]*\)/0.\1/g')"
long=$(printf 'a%.0s' $(seq 300))
one_line_exit "a 300-character store name" "1 2" "$pebench" run tiny.ini --store "$long.h5" --threads-per-rank 1

# From main() on: before it, while the dynamic loader brings in LibTorch (0.3 s idle, more on
# a busy machine), no code of pebench runs and a signal ends the process before anything is
# written. So each trial waits until the process catches SIGUSR1 (bit 10 of SigCgt), then
# signals it at once or a little later: during start-up, layout or the first steps.
catches_usr1() { local mask; mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2> /dev/null) && (( 0x${mask:-0} & 0x200 )); }
for delay in 0 0.2 0.5; do
  rm -rf early.h5*
  "$pebench" run tiny.ini --store early.h5 --threads-per-rank 1 > early.log 2>&1 &
  pid=$!
  for _ in $(seq 500); do catches_usr1 "$pid" && break; sleep 0.01; done
  sleep "$delay"
  kill -USR1 "$pid" 2> /dev/null
  wait "$pid"
  code=$?
  [[ $code -eq 3 || $code -eq 0 ]] || fail "SIGUSR1 ${delay}s after the handler is in place: exit $code, $(tail -1 early.log)"
done
# Under mpirun, SIGUSR1 is the signal that stops a job cleanly (README "Signals"): mpirun
# forwards it at once; every rank checkpoints; the job exits 3. (SIGTERM to mpirun exits 1
# and SIGKILLs ranks that take over a second; measured, not asserted here.)
tiny_study long.ini "[model]" "layers = 1" "[train]" "steps = 100000" "batch = 2" \
  "[eval]" "lengths = 16" "tokens = 64" "[grid]" "encoding = alibi,none"
mpirun -np 2 "$pebench" run long.ini --store mpi.h5 --threads-per-rank 1 > mpi.log 2>&1 &
pid=$!
for _ in $(seq 300); do [[ $(ls mpi.h5.ckpt 2> /dev/null | wc -l) -ge 2 ]] && break; sleep 0.1; done  # both ranks training
kill -USR1 "$pid"
wait "$pid"
code=$?
[[ $code -eq 3 && $(grep -c 'INTERRUPTED (checkpointed)' mpi.log) -eq 2 ]] ||
  fail "SIGUSR1 to mpirun: exit $code, $(grep -c INTERRUPTED mpi.log) runs checkpointed"
finish "absurd inputs and early signals"
