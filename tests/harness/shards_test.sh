#!/usr/bin/env bash
# Job-array shards through the real command line: --shard i/n slices are disjoint and
# cover the study; merging them (with overlapping copies: a shard twice, and a store that
# holds every run) gives the uninterrupted single store's results bit for bit.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"

cat > "$work/shards.ini" <<'INI'
[model]
d_model = 16
layers = 1
heads = 2
[train]
seq_len = 16
steps = 40
batch = 4
log_every = 10
[eval]
lengths = 16,32,64
tokens = 512
[grid]
encoding = alibi,rope,learned,t5,none
seed = 0,1
INI
study=(run "$work/shards.ini" --threads-per-rank 1)
"$pebench" "${study[@]}" --store "$work/whole.h5" > /dev/null || fail "the whole study"
for i in 0 1 2; do
  "$pebench" "${study[@]}" --store "$work/part.h5" --shard "$i/3" > "$work/shard$i.log" || fail "shard $i/3"
  [[ -e "$work/part.shard-$i-of-3.h5" ]] || fail "no part.shard-$i-of-3.h5"
done
# Disjoint and complete: 10 runs over the three shards, none twice.
ids=$(for i in 0 1 2; do "$pebench" inspect "$work/part.shard-$i-of-3.h5" | awk 'NR > 1 && /-s[01]-/ {print $1}'; done | sort)
[[ $(wc -l <<< "$ids") -eq 10 && $(uniq <<< "$ids" | wc -l) -eq 10 ]] || fail "shards are not a partition: $ids"

"$pebench" merge "$work"/part.shard-{0,1,2}-of-3.h5 -o "$work/merged.h5" > "$work/merge.log" || fail "merge"
grep -q "merged 10 runs from 3 stores (0 duplicate" "$work/merge.log" || fail "merge said: $(cat "$work/merge.log")"
/usr/bin/python3 "$here/same_results.py" "$work/whole.h5" "$work/merged.h5" || fail "merged store differs from the whole study"

"$pebench" merge "$work/part.shard-1-of-3.h5" "$work/whole.h5" "$work/part.shard-1-of-3.h5" "$work/part.shard-0-of-3.h5" \
  -o "$work/overlap.h5" > "$work/overlap.log" || fail "merge with overlaps"
grep -q "merged 10 runs from 4 stores" "$work/overlap.log" || fail "overlap merge said: $(cat "$work/overlap.log")"
/usr/bin/python3 "$here/same_results.py" "$work/whole.h5" "$work/overlap.h5" || fail "overlapping merge differs"
"$pebench" compare "$work/merged.h5" | grep -qE "^t5 +16 +2 " || fail "compare of the merged store"

finish
