#!/usr/bin/env bash
# Resume on a changed corpus (issue: hostile input, class 8): every run records what it
# read (bytes and a content hash, the `data_identity` attribute); `--resume` after the
# corpus file was replaced exits 2 with one line naming the file and the two identities,
# and changes nothing; with the same corpus it resumes; stores made before the attribute
# resume as before.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
cd "$work" || exit 1
head -c 20000 /usr/share/common-licenses/GPL-3 > corpus.txt
tiny_study text.ini "[data]" "source = text:$work/corpus.txt" "[model]" "layers = 1" "[train]" "steps = 3" "batch = 2" \
  "[eval]" "lengths = 16,32" "tokens = 64" "[grid]" "encoding = alibi,none"
"$pebench" run text.ini --store s.h5 --threads-per-rank 1 > /dev/null 2>&1 || die "first run"
$python -c "import h5py; f = h5py.File('s.h5'); print(f['runs'][f['index'][0]['run_id'].decode()].attrs['data_identity'].decode())" |
  grep -qE '^bytes=20000 fnv1a=[0-9a-f]{16}$' || fail "no data_identity recorded"
"$pebench" run text.ini --store s.h5 --resume --threads-per-rank 1 > /dev/null 2>&1 || fail "resume on the same corpus"
sha=$(sha256sum s.h5)
sed -i 's/GNU/gnu/' corpus.txt  # same size, other bytes
"$pebench" run text.ini --store s.h5 --resume --threads-per-rank 1 > out.txt 2> err.txt
code=$?
[[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "resume on a changed corpus: exit $code, $(cat err.txt)"
grep -q "corpus.txt\".*the corpus changed since run" err.txt || fail "the message does not name the file: $(cat err.txt)"
[[ $(sha256sum s.h5) == "$sha" ]] || fail "the store changed"
$python - s.h5 <<'PY' || die "removing the attribute"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    for run in f["runs"].values():
        del run.attrs["data_identity"]
PY
"$pebench" run text.ini --store s.h5 --resume --threads-per-rank 1 > /dev/null 2>&1 || fail "a store without data_identity does not resume"
finish "changed corpus"
