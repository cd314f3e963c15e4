#!/usr/bin/env bash
# Full disks (issue: hostile input, class 6), on tmpfs mounts the test makes (root only;
# skipped otherwise, exit 77). Each case ends with one pebench line and exit 1 (a run
# failed) or 2, a store that still opens with every finished run intact, and no
# temporary file left:
#   - a new store on a disk with no room for its layout: refused before anything is written;
#   - a grown grid on a full disk: the finished store is unchanged;
#   - a checkpoint that does not fit: that run fails with one line, the others finish;
#   - merge, report and export to a full disk.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
if [[ $(id -u) -ne 0 ]] || ! mount -t tmpfs -o size=64k tmpfs "$work" 2> /dev/null; then
  echo "SKIP: mounting tmpfs needs root"
  exit 77
fi
umount "$work"
disk=$work/disk
mkdir "$disk"
at_exit='umount "$disk" 2> /dev/null'
cd "$work" || exit 1
remount() {  # SIZE: an empty tmpfs of that size at $disk
  umount "$disk" 2> /dev/null
  mount -t tmpfs -o "size=$1" tmpfs "$disk" || die "mount tmpfs"
}
pebench_lines() { grep -c '^pebench: ' err.txt; }
no_partials() {  # WHAT
  local left
  left=$(find "$disk" -name '*.partial*' | head -3)
  [[ -z $left ]] || fail "$1: left $left"
}
tiny_study tiny.ini "[study]" "name = full" "[model]" "layers = 1" "[train]" "steps = 4" "batch = 2" \
  "checkpoint_every = 2" "[eval]" "lengths = 16,32" "tokens = 64" "[grid]" "encoding = alibi,none"

# A new store with no room for its layout: refused before any write.
remount 64k
"$pebench" run tiny.ini --store "$disk/s.h5" --threads-per-rank 1 > out.txt 2> err.txt
code=$?
[[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "layout on a full disk: exit $code, $(head -c 300 err.txt)"
grep -q "MB free" err.txt || fail "layout on a full disk: the message gives no sizes: $(cat err.txt)"
[[ -e $disk/s.h5 ]] && fail "layout on a full disk created the store"
no_partials "layout on a full disk"

# Room for the store, not for a checkpoint (a checkpoint holds the model and AdamW's
# moments: ~3x the weights): each run fails with one line; the store keeps its layout.
remount 300k
"$pebench" run tiny.ini --store "$disk/s.h5" --threads-per-rank 1 > out.txt 2> err.txt
code=$?
[[ $code -eq 1 ]] || fail "checkpoints on a full disk: exit $code, $(head -c 300 err.txt)"
[[ $(pebench_lines) -eq $(wc -l < err.txt) ]] || fail "checkpoints on a full disk: a line that is not pebench's: $(grep -v '^pebench: ' err.txt | head -3)"
grep -q "No space left on device" err.txt || fail "checkpoints on a full disk: the reason is not given: $(head -3 err.txt)"
"$pebench" inspect "$disk/s.h5" > inspect.txt 2>&1 || fail "the store does not open after full-disk checkpoints: $(cat inspect.txt)"
no_partials "checkpoints on a full disk"

# A finished store, then a grown grid on a disk that has filled up: the store is unchanged.
remount 2m
"$pebench" run tiny.ini --store "$disk/s.h5" --threads-per-rank 1 > /dev/null 2>&1 || die "study on a roomy disk"
"$pebench" compare "$disk/s.h5" --format csv > before.csv || die "compare"
cp "$disk/s.h5" before.h5
dd if=/dev/zero of="$disk/filler" bs=4k 2> /dev/null  # fills the disk
"$pebench" run tiny.ini --store "$disk/s.h5" --resume --threads-per-rank 1 --grid.seed 0,1,2 > out.txt 2> err.txt
code=$?
[[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "grown grid on a full disk: exit $code, $(head -c 300 err.txt)"
cmp -s before.h5 "$disk/s.h5" || fail "grown grid on a full disk changed the store"
no_partials "grown grid on a full disk"

# Writers of whole files on a full disk: one line, exit 2, no output and no partial.
for command in "merge before.h5 -o $disk/m.h5" "report before.h5 -o $disk/r.html" "export before.h5 --all -o $disk/exported"; do
  "$pebench" $command > out.txt 2> err.txt
  code=$?
  [[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "${command%% *} on a full disk: exit $code, $(head -c 300 err.txt)"
  find "$disk" -maxdepth 1 \( -name 'm.h5*' -o -name 'r.html*' -o -name 'exported*' -o -name '.exported*' \) | grep -q . &&
    fail "${command%% *} on a full disk left $(find "$disk" -maxdepth 1 -name 'm.h5*' -o -name 'r.html*' -o -name '*exported*')"
done
no_partials "writers on a full disk"
finish "full disks"
