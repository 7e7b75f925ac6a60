#pragma once
// Private: how kernels use threads. One parallel region per kernel call, opened with
// the library-wide thread count; worksharing inside is orphaned `omp for`, so the
// same body runs in a team or on the calling thread alone.
#include <cstdint>

#include "pyfrozen/runtime.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyfrozen::detail {

/// Threads for a call doing `work` units (flops, or element operations): below
/// `serial_below` a parallel region costs more than it saves, so one thread.
inline int threads_for(double work, double serial_below) {
  return work < serial_below ? 1 : get_num_threads();
}

/// Runs body() on a team of nt threads. The region is always opened (inactive when
/// nt == 1, which costs little): called inline, the body's orphaned `omp for` loops
/// would bind to a caller's own parallel region and split one call's work across the
/// caller's team (wrong results, or a hang). Exceptions must not leave body().
template <typename Body>
void run_team(int nt, Body&& body) {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
  body();
#else
  (void)nt;
  body();
#endif
}

/// This thread's index in the current team (0 outside a region or without OpenMP).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace pyfrozen::detail
