#!/bin/bash
# pebench study {{STUDY_NAME}}: merges the {{ARRAY_SHARDS}} shards of job array {{ARRAY_JOB}}
# into {{STORE}} once every task has succeeded. Rendered by `pebench submit`.
#SBATCH --job-name={{JOB_NAME}}-merge
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --time=00:30:00
#SBATCH --open-mode=append
#SBATCH --output={{LOG}}
{{DIRECTIVES}}
set -eu
inputs=({{SHARDS}})
# A store from an earlier merge is an input too: merging again never loses a run.
if [ -e {{STORE}} ]; then inputs=({{STORE}} "${inputs[@]}"); fi
rm -f {{STORE}}.merged
{{PEBENCH}} merge "${inputs[@]}" -o {{STORE}}.merged
mv {{STORE}}.merged {{STORE}}
{{PEBENCH}} inspect {{STORE}} | tail -n 1
