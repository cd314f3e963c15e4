// The lent GPU machine's build (../shared/gpu/device_build.sh) compiles every source with
// g++ directly and force-includes this file (-include harness/pch.h) in place of CMake's
// precompiled header; without it that build stops at its first file. The list itself is
// CMake's (encodings/torch_pch.h).
#pragma once
#include "encodings/torch_pch.h"
