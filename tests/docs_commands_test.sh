#!/usr/bin/env bash
# Every `build/pebench` command in the docs' shell blocks (README.md, docs/*.md,
# BENCHMARKS.md, results/README.md) still parses as written: its flags, study keys, grid
# axes and study files. The commands run from a folder laid out like the repository root
# (jobs/, build/pebench, ../shared), so relative paths mean what they mean for a reader:
# - `run` with --dry-run: the study expands (keys, values, corpora found) and nothing runs;
# - `submit` with --dry-run (before any `-- RUN FLAGS`, which submit checks against run's
#   own options): the script renders;
# - the rest (compare, report, inspect, merge, export, tokenize) with their stores absent:
#   options are checked before files are opened, so the only error allowed is the one that
#   names a missing store or corpus of the command itself.
# A `for VAR in A B; do` line over the commands below it is expanded, as a shell would; a
# synopsis (`[--OPTION ...]`) is skipped, and the placeholder STUDY.ini is the quickstart.
# Numbers in the docs come from the commands beside them; this checks that those commands
# still run, not the numbers.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
root=$(cd "$here/.." && pwd)
[[ -d $root/../shared/data ]] || die "../shared/data is missing beside the repository: the docs' commands read it"

mkdir -p "$work/repo/build" && cd "$work/repo" || die "no scratch folder"
ln -s "$root/jobs" jobs
ln -s "$pebench" build/pebench
ln -s "$(cd "$root/../shared" && pwd)" "$work/shared"

# FILE:LINE <tab> COMMAND, one per pebench command.
"$python" - "$root" > "$work/commands.tsv" <<'EOF' || die "could not read the docs"
import glob, os, re, shlex, sys
root = sys.argv[1]
docs = ["README.md", "BENCHMARKS.md", "results/README.md"] + sorted(
    os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))
for doc in docs:
    text = open(os.path.join(root, doc), encoding="utf-8").read()
    for block in re.finditer(r"^```(?:sh|bash)\n(.*?)^```", text, re.S | re.M):
        first = text.count("\n", 0, block.start(1)) + 1
        lines, loop = [], None
        for offset, raw in enumerate(block.group(1).split("\n")):
            if lines and lines[-1][1].endswith("\\"):
                lines[-1] = (lines[-1][0], lines[-1][1][:-1] + " " + raw.strip())
            else:
                lines.append((first + offset, raw.strip()))
        for number, line in lines:
            words = shlex.split(line, comments=True) if line else []
            if words[:1] == ["for"] and "in" in words and words[-1] == "do":
                name, values = words[1], words[words.index("in") + 1:-1]
                loop = (name, [v.rstrip(";") for v in values if v.rstrip(";")])
                continue
            if words[:1] == ["done"]:
                loop = None
                continue
            if words[:3] and words[0] == "mpirun":
                words = words[3:]  # mpirun -np N
            if words[:1] != ["build/pebench"] or any(w.startswith("[") for w in words):
                continue  # not pebench, or a synopsis: [--OPTION ...]
            for value in (loop[1] if loop else [None]):
                command = [w.replace("$" + loop[0], value) if loop else w for w in words]
                print(f"{doc}:{number}\t{shlex.join(command)}")
EOF
count=$(wc -l < "$work/commands.tsv")
[[ $count -ge 40 ]] || die "only $count pebench commands found in the docs: the reader of them is broken"

while IFS=$'\t' read -r place command; do
  eval "words=($command)"
  case ${words[1]} in
    run) [[ " ${words[*]} " == *" --dry-run "* ]] || words+=(--dry-run) ;;
    submit)
      if [[ " ${words[*]} " != *" --dry-run "* ]]; then
        with=() ; added=0
        for word in "${words[@]}"; do
          [[ $word == -- && $added -eq 0 ]] && { with+=(--dry-run); added=1; }
          with+=("$word")
        done
        ((added)) || with+=(--dry-run)
        words=("${with[@]}")
      fi ;;
  esac
  # A placeholder study (STUDY.ini) stands for any: run the synopsis on the quickstart.
  words=("${words[@]/#STUDY.ini/jobs/quickstart.ini}")
  output=$("${words[@]}" 2>&1 < /dev/null)
  status=$?
  [[ $status -eq 0 ]] && continue
  message=$(tail -1 <<< "$output")
  missing=0
  for word in "${words[@]:2}"; do
    [[ $word == -* ]] && continue
    if [[ $message == *"'$word' is not an HDF5 file"* || $message == *"file '$word' not found"* ]]; then
      [[ ${words[1]} != run && ${words[1]} != submit ]] && missing=1
    fi
  done
  ((missing)) || fail "$place: \`${words[*]}\` exits $status: $message"
done < "$work/commands.tsv"
finish "docs_commands: $count commands"
