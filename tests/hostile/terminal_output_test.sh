#!/usr/bin/env bash
# Hostile strings (issue: hostile input): a store whose run id, config and host hold ANSI
# escape sequences (clear screen, set the window title), a carriage return and a newline
# reaches no terminal raw: compare in every format, inspect and the resumed run's closing
# table print no byte below 0x20 but newline (tab in none either); JSON stays valid and
# CSV parses back to the same rows. `pebench submit` refuses a control byte in any value
# that reaches a batch script, and study files with a byte-order mark, a NUL or an escape
# give one-line messages.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
cd "$work" || exit 1
tiny_study tiny.ini "[study]" "name = hostile" "[model]" "layers = 1" "[train]" "steps = 2" "batch = 2" \
  "[eval]" "lengths = 16,32" "tokens = 64" "[grid]" "encoding = alibi,none"
"$pebench" run tiny.ini --store s.h5 --threads-per-rank 1 > /dev/null 2>&1 || die "tiny study"
$python - s.h5 <<'PY' || die "crafting the store"
import sys, h5py, numpy as np
evil = b"alibi\x1b[2J\x1b]0;owned\x07\r-evil\nrow"
with h5py.File(sys.argv[1], "r+") as f:
    index = f["index"][()]
    old = index[0]["run_id"].decode()
    f.move(f"runs/{old}", "runs/" + evil.decode().replace("/", "_"))
    index[0]["run_id"] = evil
    index[0]["encoding"] = b"enc\x1b[31m"
    f["index"][...] = index
    group = f["runs"][evil.decode()]
    config = group.attrs["config"].decode().replace("encoding = alibi", "encoding = alibi\x1b[2J\rx")
    config = config.replace("eval.protocol = ", "eval.protocol = <img src=x onerror=alert(1)></pre><script>alert(2)</script>\"'")
    del group.attrs["config"]
    group.attrs.create("config", np.bytes_(config.encode()))
    summary = group["summary"][()]
    summary["host"] = b"node\x1b]0;title\x07\n7<script>alert(3)</script>"
    group["summary"][...] = summary
PY
raw_controls() {  # FILE: exit 0 when it holds a byte below 0x20 other than newline
  LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]' "$1"
}
for format in table markdown csv json; do
  "$pebench" compare s.h5 --format "$format" > "compare.$format" 2> err.txt || fail "compare --format $format: $(cat err.txt)"
  raw_controls "compare.$format" && fail "compare --format $format printed a raw control byte"
done
grep -qF 'alibi\x1b[2J' compare.table || fail "compare table does not show the escape visibly"
$python -c "import json; rows = json.load(open('compare.json')); assert any('\x1b' in r['encoding'] for r in rows), rows" ||
  fail "compare --format json lost the string or is not JSON"
$python -c "import csv; rows = list(csv.reader(open('compare.csv'))); assert len({len(r) for r in rows}) == 1, rows" ||
  fail "compare --format csv rows have different widths"
"$pebench" inspect s.h5 > inspect.txt 2>&1 || fail "inspect"
raw_controls inspect.txt && fail "inspect printed a raw control byte"
[[ $(grep -c 'evil' inspect.txt) -eq 1 ]] || fail "a newline in a run id split an inspect row"
"$pebench" run tiny.ini --store s.h5 --resume --threads-per-rank 1 > resumed.txt 2>&1
raw_controls resumed.txt && fail "the closing table of run --resume printed a raw control byte"

# The HTML report of the same store: every payload stays text; no element or attribute
# comes from store text (parsed with Python's HTML parser).
"$pebench" report s.h5 -o r.html > /dev/null 2> err.txt || fail "report of the hostile store: $(cat err.txt)"
$python - r.html <<'PY' || fail "the report holds an element or attribute from store text"
import sys
from html.parser import HTMLParser
class Check(HTMLParser):
    bad = []
    def handle_starttag(self, tag, attrs):
        if tag in ("img", "script", "iframe", "object", "embed"):
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or "alert" in (value or ""):
                self.bad.append(f"{tag} {name}={value}")
text = open(sys.argv[1], encoding="utf-8").read()
check = Check()
check.feed(text)
assert not check.bad, check.bad
assert "alert(1)" in text and "alert(2)" in text, "the payloads are not shown as text"
PY

# submit: a control byte in any value that reaches the script is refused, nothing written.
for flag in --extra --partition --account --time; do
  value=$'#SBATCH --mem=1G\ntouch '"$work"'/injected'
  [[ $flag == --extra ]] || value=$'a\rb'
  "$pebench" submit tiny.ini --scheduler slurm --store "$work/sub.h5" "$flag" "$value" > out.txt 2> err.txt
  code=$?
  [[ $code -eq 2 && $(wc -l < err.txt) -eq 1 && ! -e sub.h5.slurm.sh ]] || fail "submit $flag with a control byte: exit $code"
done
[[ -e injected ]] && fail "an injected command ran"

# Study files: a byte-order mark is accepted; NUL, escape and newline give one line.
printf '\xef\xbb\xbf[train]\nsteps = 3\n' > bom.ini
"$pebench" run bom.ini --dry-run > /dev/null 2> err.txt || fail "a byte-order mark is refused: $(cat err.txt)"
printf '[train]\nsteps = 3\x00x\n' > nul.ini
printf '[train]\nbatch = 4\x1b[2J\n' > escape.ini
for study in nul.ini escape.ini; do
  "$pebench" run "$study" --dry-run > /dev/null 2> err.txt
  code=$?
  [[ $code -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "$study: exit $code, $(wc -l < err.txt) lines"
  raw_controls err.txt && fail "$study: the message holds a raw control byte"
done
"$pebench" run tiny.ini --train.steps $'4\nsecond line' --dry-run > /dev/null 2> err.txt
[[ $? -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "a newline in a value split the message"
finish "hostile strings"
