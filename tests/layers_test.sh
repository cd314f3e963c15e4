#!/usr/bin/env bash
# The layers of DESIGN.md, as includes and calls: encodings/ see LibTorch only, models/
# add encodings/, results/ see HDF5 and MPI types but no LibTorch, model or harness, and
# MPI is called from harness/scheduler.cpp alone. Each breach is printed with its place.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
failures=0
breach() {  # FOLDER PATTERN WHY
  local found
  found=$(grep -rnE "$2" --include='*.cpp' --include='*.h' "$1")
  [[ -z $found ]] && return
  echo "FAIL $1: $3"
  echo "$found"
  failures=$((failures + 1))
}
breach encodings '#include +["<](harness|models|results)/|#include +<(mpi|hdf5)\.h>' "an encoding knows no model, harness, store or MPI"
breach models '#include +["<](harness|results)/|#include +<(mpi|hdf5)\.h>' "the model knows neither ranks nor files"
breach results '#include +["<](harness|models|encodings)/|#include +<(torch|ATen|c10)/' "results/ needs no harness, model or LibTorch"
calls=$(grep -rnE '\bMPI_[A-Z][a-z_]+[[:space:]]*\(' --include='*.cpp' --include='*.h' harness results models encodings bench |
        grep -v '^harness/scheduler\.cpp:')
[[ -z $calls ]] || { echo "FAIL MPI called outside harness/scheduler.cpp:"; echo "$calls"; failures=$((failures + 1)); }
echo "$failures layer breaches"
[[ $failures -eq 0 ]]
