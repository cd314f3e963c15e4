#!/usr/bin/env bash
# pebench report in a real browser: a store made here (3 seeds, a diverged config, every
# analysis, a study comment and a store name that try to inject HTML) becomes a report
# that Debian's chromium renders headless with no console message at all; the
# screenshot is not blank; every chart is well-formed SVG; nothing is loaded from
# outside. chromium (and python3-pil) are installed when missing.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
install_missing chromium python3-pil || die "could not install chromium and python3-pil"

cat > "$work/report.ini" <<'INI'
; <script>console.error("injected from the study file")</script> </pre><b>bold</b>
[study]
name = browser
[model]
d_model = 16
layers = 2
heads = 2
[train]
seq_len = 16
steps = 30
batch = 4
log_every = 10
grad_clip = 0
[eval]
lengths = 16,32,64
tokens = 512
[analysis]
run = window_ppl,gradient,attention,probe
windows = 1,4,16,64
tokens = 1024
sequences = 4
[grid]
encoding = alibi,rope
train.lr = 0.001,1000
seed = 0,1,2
INI
store="$work/rep<img src=x onerror=console.error(7)>.h5"
"$pebench" run "$work/report.ini" --store "$store" --threads-per-rank 1 > "$work/run.log" || die "run: $(tail -3 "$work/run.log")"
grep -q "DIVERGED" "$work/run.log" || die "lr 1000 did not diverge: the diverged path is not exercised"
# --baseline adds the chart of each group's ppl over its baseline run's (rope against alibi).
"$pebench" report "$store" --baseline encoding=alibi -o "$work/report.html" > /dev/null || die "report"
[[ ! -e "$work/report.html.partial" ]] || die "a .partial file was left"

render() {  # render HTML_FILE PNG_FILE LOG_FILE
  timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$(mktemp -d -p "$work")" \
    --enable-logging=stderr --log-level=0 --window-size=1400,2400 --hide-scrollbars \
    --screenshot="$2" "file://$1" > "$3" 2>&1
}
# The check can fail: a page with a console error and an exception is caught.
cat > "$work/control.html" <<'HTML'
<!DOCTYPE html><html><body><p>control</p><script>console.error("deliberate"); not_defined();</script></body></html>
HTML
render "$work/control.html" "$work/control.png" "$work/control.log" || die "chromium did not render the control page"
[[ $(grep -c "CONSOLE" "$work/control.log") -ge 2 ]] || die "console messages are not captured: $(cat "$work/control.log")"

render "$work/report.html" "$work/report.png" "$work/report.log" || die "chromium: $(tail -3 "$work/report.log")"
if grep "CONSOLE" "$work/report.log"; then die "the report logged to the console"; fi

$python - "$work/report.html" "$work/report.png" <<'PY' || die "report content or screenshot"
import re, sys
import xml.etree.ElementTree as ElementTree
from PIL import Image
html = open(sys.argv[1], encoding="utf-8").read()
# Nothing executable, nothing from outside; the injections arrive as text.
assert "<script" not in html.lower(), "a <script> element"
for tag in re.findall(r"<[a-zA-Z][^>]*>", html):
    assert not re.search(r"^<(img|iframe|link|object|embed)|\s(src|href|on\w+)\s*=", tag, re.I), tag
style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
assert "@import" not in style and "url(" not in style, "the style loads something"
assert "&lt;script&gt;console.error(&quot;injected from the study file&quot;)&lt;/script&gt;" in html
assert "rep&lt;img src=x onerror=console.error(7)&gt;.h5" in html
# Every chart is well-formed XML with axes and at least one drawn curve.
charts = re.findall(r"<svg .*?</svg>", html, re.S)
assert len(charts) >= 9, len(charts)
for chart in charts:
    root = ElementTree.fromstring(chart)
    assert root.findall(".//{http://www.w3.org/2000/svg}polyline"), chart[:300]
for title in ["Perplexity vs evaluation length", "Loss by position", "Perplexity with attention limited",
              "Cumulative gradient", "Attention by distance, layer 2", "Bias by distance", "Position probe by layer",
              "Training loss", "Perplexity relative to the baseline"]:
    assert title in html, title
assert "95% confidence" in html and html.count("<polygon") >= 2, "no CI bands"
assert 'class="text diverged"' in html, "diverged runs are not shown as such"
# The screenshot shows a rendered page: many colours, a good share of non-white pixels.
image = Image.open(sys.argv[2]).convert("RGB")
assert image.size == (1400, 2400), image.size
small = image.resize((350, 600))
pixels = list(small.getdata())
colours = len(set(pixels))
ink = sum(1 for p in pixels if sum(p) < 700) / len(pixels)
assert colours > 200 and ink > 0.03, (colours, ink)
print("report: %d charts, screenshot %d colours, %.1f%% ink" % (len(charts), colours, 100 * ink))
PY
echo "report browser test passed"
