#!/usr/bin/env bash
# HDF5 is called from results/hdf5.h alone, where every call is checked: any H5*() call
# elsewhere in results/ (or anywhere outside results/) fails this test with its place.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
calls=$(grep -rnE '\bH5[A-Z][A-Za-z0-9_]*[[:space:]]*\(' --include='*.cpp' --include='*.h' \
          results harness models encodings bench | grep -v '^results/hdf5\.h:')
if [[ -n $calls ]]; then
  echo "FAIL raw HDF5 calls outside results/hdf5.h:"
  echo "$calls"
  exit 1
fi
echo "no raw HDF5 call outside results/hdf5.h"
