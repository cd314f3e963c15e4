#!/usr/bin/env bash
# Symlinks and special files (issue: hostile files): a symlink left at the name of any
# temporary file pebench writes (report's OUT.partial, merge's OUT.h5.partial, the layout's
# STORE.partial, a checkpoint's RUN.pt.partial) is never written through, so the file it
# points to stays as it was; a symlink at submit's script name is refused; a FIFO named as
# the report's output is written into, never replaced by a regular file.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
cd "$work" || exit 1
tiny_study tiny.ini "[model]" "layers = 1" "[train]" "steps = 3" "batch = 2" "checkpoint_every = 2" \
  "[eval]" "lengths = 16,32" "tokens = 64" "[grid]" "encoding = alibi"
echo "victim" > victim.txt
victim_intact() { [[ $(cat victim.txt) == victim ]] || fail "$1: the symlink's target was overwritten"; echo "victim" > victim.txt; }

ln -s "$work/victim.txt" s.h5.partial
"$pebench" run tiny.ini --store s.h5 --threads-per-rank 1 > run.log 2>&1 || fail "run with a symlink at STORE.partial: $(tail -1 run.log)"
victim_intact "layout STORE.partial"

run_id=$("$pebench" run tiny.ini --dry-run | grep -m1 -E '^alibi-')
mkdir -p t.h5.ckpt && ln -s "$work/victim.txt" "t.h5.ckpt/$run_id.pt.partial"
"$pebench" run tiny.ini --store t.h5 --threads-per-rank 1 > run.log 2>&1 || fail "run with a symlink at a checkpoint partial"
victim_intact "checkpoint RUN.pt.partial"

ln -s "$work/victim.txt" r.html.partial
"$pebench" report s.h5 -o r.html > /dev/null 2>&1 || fail "report with a symlink at OUT.partial"
victim_intact "report OUT.partial"
[[ -f r.html && ! -L r.html ]] || fail "report did not write r.html"

ln -s "$work/victim.txt" m.h5.partial
"$pebench" merge s.h5 -o m.h5 > /dev/null 2>&1 || fail "merge with a symlink at OUT.partial"
victim_intact "merge OUT.partial"

ln -s "$work/victim.txt" sub.h5.slurm.sh
"$pebench" submit tiny.ini --scheduler slurm --store "$work/sub.h5" > out.txt 2> err.txt
code=$?
[[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "submit with a symlink at its script: exit $code $(cat err.txt)"
victim_intact "submit's script"

mkfifo out.fifo
cat out.fifo > fifo.html &
reader=$!
timeout 60 "$pebench" report s.h5 -o out.fifo > /dev/null 2>&1 || fail "report into a FIFO"
if [[ -p out.fifo ]]; then
  wait "$reader"
  grep -q "</html>" fifo.html || fail "the report did not come through the FIFO"
else
  kill "$reader" 2> /dev/null
  fail "the FIFO was replaced by a regular file"
fi
finish "symlinks and special files"
