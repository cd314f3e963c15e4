#!/usr/bin/env bash
# Installs what is missing, builds pebench and its tests, and runs the whole suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/jobs/build.sh"
cd "$root/build"
ctest --output-on-failure -j2
