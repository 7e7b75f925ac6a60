#pragma once
// Umbrella header: the whole public C++ API of pyfrozen's core.
#include "pyfrozen/activation.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/dense.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/export.hpp"
#include "pyfrozen/gemm.hpp"
#include "pyfrozen/optimizer.hpp"
#include "pyfrozen/runtime.hpp"
#include "pyfrozen/version.hpp"
