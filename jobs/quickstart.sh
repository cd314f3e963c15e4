#!/usr/bin/env bash
# From a fresh Debian machine: install what is missing, build, train and evaluate the
# quickstart study on 2 local MPI ranks, and print the comparison table.
# usage: jobs/quickstart.sh   (RANKS=N and STORE=FILE.h5 change the defaults)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/jobs/build.sh" pebench

ranks=${RANKS:-2}
store=${STORE:-quickstart.h5}
# OpenMPI refuses to run as root unless told (containers, fresh VMs).
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# --resume: a second call skips finished runs and prints the table again.
mpirun --oversubscribe -np "$ranks" "$root/build/pebench" run "$root/jobs/quickstart.ini" --store "$store" --resume
# Every chart of the study in one self-contained HTML file (open it in any browser).
"$root/build/pebench" report "$store" -o "${store%.h5}.html"
