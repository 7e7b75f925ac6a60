#pragma once
// Per-kernel call counters: what ran, for which pass, and how much work it did, so
// tests (and users) can prove that freezing skipped a kernel or shrank its work.
#include <cstdint>
#include <string>
#include <vector>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// The part of training a kernel call serves (oneDNN's forward / backward_data /
/// backward_weights split, plus bias gradients, optimizer updates and losses).
enum class Pass { forward = 0, backward_input, backward_weight, backward_bias, update };

/// "forward", "backward_input", "backward_weight", "backward_bias", "update".
PYFROZEN_API const char* pass_name(Pass pass);

/// Records one call of `kernel` for `pass` that did `work` units (multiply-adds for
/// convolutions and GEMM-like kernels, elements for memory-bound ones). Thread-safe;
/// called once per kernel call, never inside a hot loop.
PYFROZEN_API void count_kernel(const char* kernel, Pass pass, std::int64_t work);

struct KernelCount {
  std::string kernel;
  Pass pass;
  std::int64_t calls;
  std::int64_t work;
};

/// Totals since the last reset, sorted by kernel then pass.
PYFROZEN_API std::vector<KernelCount> kernel_counts();

/// The same, counting only the calls made from the calling thread (since the thread
/// started or its last reset), so a trace in one thread never sees another's kernels.
PYFROZEN_API std::vector<KernelCount> thread_kernel_counts();
/// Zeroes the process totals and the calling thread's.
PYFROZEN_API void reset_kernel_counts();

}  // namespace pyfrozen
