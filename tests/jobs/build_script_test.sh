#!/usr/bin/env bash
# jobs/build.sh picks the LibTorch a cluster user means: TORCH_DIR first, else the pip
# torch of $PYTHON, else Debian's; a build folder configured for another one is
# reconfigured from scratch; a TORCH_DIR without TorchConfig.cmake exits 2 with one line;
# without root or passwordless sudo nothing is installed.
# Stand-in LibTorches (a TorchConfig.cmake that stops configuring with its own name) show
# which one CMake was given; the real one (Debian's) is configured with the target `help`,
# which builds nothing.
# usage: build_script_test.sh PEBENCH
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
root=$(cd "$here/../.." && pwd)
cd "$work" || exit 1

fake_torch() {  # PREFIX NAME: PREFIX/Torch/TorchConfig.cmake that names itself and stops
  mkdir -p "$1/Torch"
  echo "message(FATAL_ERROR \"stand-in LibTorch $2\")" > "$1/Torch/TorchConfig.cmake"
}
fake_torch "$work/libtorch/share/cmake" unzipped
fake_torch "$work/site-packages/torch/share/cmake" pip
cat > fake-python <<EOF
#!/usr/bin/env bash
echo "$work/site-packages/torch/share/cmake"
EOF
chmod +x fake-python

# build.sh OUTPUT_FILE [ENV...]: its exit status; stdout and stderr into OUTPUT_FILE.
build() {
  local out=$1
  shift
  env BUILD_DIR="$work/build" "$@" bash "$root/jobs/build.sh" help > "$out" 2>&1
}

# No torch in $PYTHON (Debian's python3-torch has no CMake files either): Debian's LibTorch.
build debian.txt PYTHON=/bin/false
status=$?
[[ $status -eq 0 ]] && grep -q "LibTorch 1.13" debian.txt && grep -q "pebench_tests" debian.txt ||
  { cat debian.txt; fail "Debian's LibTorch: exit $status"; }

build unzipped.txt TORCH_DIR="$work/libtorch" PYTHON="$work/fake-python"
status=$?
grep -q "configured for /usr/lib/.*/cmake/Torch; reconfiguring for $work/libtorch/share/cmake" unzipped.txt ||
  fail "no reconfigure when the LibTorch changes"
[[ $status -eq 1 ]] && grep -q "stand-in LibTorch unzipped" unzipped.txt || { cat unzipped.txt; fail "TORCH_DIR is not used first"; }

build pip.txt PYTHON="$work/fake-python"
status=$?
[[ $status -eq 1 ]] && grep -q "stand-in LibTorch pip" pip.txt || { cat pip.txt; fail "the pip torch of \$PYTHON is not used"; }

build bad.txt TORCH_DIR="$work/nowhere"
status=$?
[[ $status -eq 2 && $(wc -l < bad.txt) -eq 1 ]] && grep -q "TORCH_DIR=$work/nowhere holds no share/cmake/Torch/TorchConfig.cmake" bad.txt ||
  { cat bad.txt; fail "bad TORCH_DIR: exit $status"; }
# Back to Debian's after the stand-in's failed configure (its cache holds Torch_DIR:UNINITIALIZED).
build again.txt PYTHON=/bin/false
status=$?
[[ $status -eq 0 ]] && grep -q "reconfiguring for the Debian LibTorch" again.txt && grep -q "LibTorch 1.13" again.txt ||
  { cat again.txt; fail "Debian's LibTorch after a failed configure: exit $status"; }
# A cluster login node on Debian or Ubuntu: packages missing, no root, no passwordless
# sudo. Nothing is installed (apt-get is never called) and the build goes on.
mkdir -p stubs
printf '#!/bin/bash\n[[ $1 == -u ]] && echo 1000 || exec /usr/bin/id "$@"\n' > stubs/id
printf '#!/bin/bash\nexit 1\n' > stubs/sudo
printf '#!/bin/bash\necho "deinstall ok config-files"\n' > stubs/dpkg-query
printf '#!/bin/bash\necho "apt-get called"; exit 1\n' > stubs/apt-get
chmod +x stubs/*
build noroot.txt PATH="$work/stubs:$PATH" PYTHON=/bin/false
status=$?
[[ $status -eq 0 ]] && grep -q "^pebench: not installing .*libhdf5-openmpi-dev.* (no root or passwordless sudo)" noroot.txt &&
  ! grep -q "apt-get called" noroot.txt || { cat noroot.txt; fail "no root: exit $status"; }
[[ $failures -eq 0 ]] && echo "build.sh: Debian's, TORCH_DIR, pip torch, a bad TORCH_DIR, each switch and no root as documented"
exit $((failures > 0))
