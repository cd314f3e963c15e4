// Precompiled header: the LibTorch headers every LibTorch target needs, parsed once per build
// (built with pebench_encodings, reused by the model, harness, pebench and the tests).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>
#include <torch/utils.h>
