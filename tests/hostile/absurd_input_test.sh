#!/usr/bin/env bash
# Absurd inputs and early signals (issue: hostile input, classes 7 and 9, in part): a study
# path that is a folder, a FIFO or /dev/zero, a template that is /dev/zero, a walltime or
# node count past any cluster, and a store name past the file system's limit end with one
# line and exit 2 (or 1), never a hang, an abort or a core; SIGUSR1 during start-up and
# layout ends a run with exit 3, as it does during training (from main() on: see below).
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
finish "absurd inputs and early signals"
