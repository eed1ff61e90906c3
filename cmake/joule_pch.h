// Precompiled header for Joule's own translation units (never included by users).
// Parsing LibTorch's headers costs ~15 s per file on a small machine; compiled once here,
// each file then builds in ~2-3 s. Keep it to headers most files need.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/autograd.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/functional/activation.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
