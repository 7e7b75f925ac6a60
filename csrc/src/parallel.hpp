#pragma once
// Private: how kernels use threads. One parallel region per kernel call, opened with
// the library-wide thread count; worksharing inside is orphaned `omp for`, so the
// same body runs in a team or on the calling thread alone.
//
// Determinism: every kernel gives the same bits on every call for a given thread count
// (tests/core/test_determinism.py). `schedule(dynamic)` is used only where each
// iteration writes its own outputs. A reduction either gives each of a fixed number of
// slots (ranges of the work chosen before the region, never by timing) its own partial
// sum, hands the slots out dynamically and adds the partials in slot order, which keeps
// load balancing (with ReductionSlots below, whose slots depend on the sizes only, the
// bits are the same for any thread count); or, where a partial sum is too big to have
// many (a convolution's whole dw on the GEMM path), it splits the work over the team
// with `schedule(static)` and adds the per-thread sums in thread order.
#include <algorithm>
#include <cstdint>

#include "pyfrozen/runtime.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyfrozen::detail {

/// get_num_threads(), or 1 on a thread whose libgomp pool a fork() lost (threads.cpp).
int usable_threads();
/// Records that the calling thread started a team (so owns a libgomp pool).
void note_team_started();

/// Element operations (copies, adds, optimizer or BN updates) below which a parallel
/// region costs more than it saves: one thread is faster.
inline constexpr double kSerialElements = 32768;

/// Threads for a call doing `work` units (flops, or element operations): below
/// `serial_below` a parallel region costs more than it saves, so one thread.
inline int threads_for(double work, double serial_below) {
  return work < serial_below ? 1 : usable_threads();
}

/// Runs body() on a team of nt threads. The region is always opened (inactive when
/// nt == 1, which costs little): called inline, the body's orphaned `omp for` loops
/// would bind to a caller's own parallel region and split one call's work across the
/// caller's team (wrong results, or a hang). Exceptions must not leave body().
template <typename Body>
void run_team(int nt, Body&& body) {
#ifdef _OPENMP
  if (nt > 1) note_team_started();
#pragma omp parallel num_threads(nt) if (nt > 1)
  body();
#else
  (void)nt;
  body();
#endif
}

/// A fixed split of `count` work items (rows, blocks) into contiguous slots for a
/// reduction: about `per_slot` items each, at most `max_slots` slots, never depending on
/// the thread count. Threads take slots dynamically, each slot sums into its own
/// partial, and the partials are added in slot order.
struct ReductionSlots {
  std::int64_t count, slots;
  ReductionSlots(std::int64_t count_, std::int64_t per_slot, std::int64_t max_slots)
      : count(count_),
        slots(std::max<std::int64_t>(
            1, std::min(max_slots, (count_ + per_slot - 1) / std::max<std::int64_t>(1, per_slot)))) {}
  std::int64_t begin(std::int64_t s) const { return count * s / slots; }
  std::int64_t end(std::int64_t s) const { return count * (s + 1) / slots; }
};

/// This thread's index in the current team (0 outside a region or without OpenMP).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace pyfrozen::detail
