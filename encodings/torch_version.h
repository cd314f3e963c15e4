// The LibTorch version this build compiles against, for the guards around ops that newer
// LibTorch has and Debian's 1.13 lacks (one build must compile against both).
#pragma once
#include <torch/version.h>

#define PEBENCH_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
