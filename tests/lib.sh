# Shared by the shell tests; source it first:   source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
# Strict mode, the binary under test, a temp folder removed at exit (with any process
# still running from it), OpenMPI allowed to run as root and to oversubscribe CI's 2
# cores and keeping its session folders in a temp folder of the test's own, Debian's python (with h5py), and failure counting.
set -uo pipefail
pebench=${1:?usage: $0 PEBENCH}
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
work=$(mktemp -d)
at_exit=""  # more to undo at exit (a test's own daemons), run first
trap 'eval "$at_exit" || true; pkill -9 -f "$work/" 2>/dev/null || true; rm -rf "$work" "${OMPI_MCA_orte_tmpdir_base:-}"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# OpenMPI's session folders in a folder of the test's own (beside $work, whose files some
# tests compare): in the shared /tmp/ompi.HOST.UID, one process's finalize can remove the
# folder as another's daemon makes its own in it (tests/results/test_store.cpp).
OMPI_MCA_orte_tmpdir_base=$(mktemp -d)
export OMPI_MCA_orte_tmpdir_base
python=/usr/bin/python3
failures=0

# fail: count a failure and go on; die: stop the test here.
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
die() { echo "FAIL $*"; exit 1; }

# Installs the Debian packages of "$@" that are missing (a browser, SLURM daemons).
install_missing() {
  local missing=() package sudo=""
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" > /dev/null
}

# A study file for the tests' tiny models: d_model 16, 2 heads, train length 16, then the
# given lines (sections and keys, none of the four above: a study names a key once).
#   tiny_study FILE [LINE...]
tiny_study() {
  local file=$1
  shift
  printf '[model]\nd_model = 16\nheads = 2\n[train]\nseq_len = 16\n' > "$file"
  printf '%s\n' "$@" >> "$file"
}

# The last line of a test: its failure count; exit 1 when anything failed.
finish() {
  echo "${1:+$1, }$failures failures"
  [[ $failures -eq 0 ]] || exit 1
  exit 0
}
