#pragma once
// Private: memory-bound kernels (element-wise, losses, pooling) split their index range
// into fixed chunks handed out dynamically inside one parallel region. Chunks do not
// depend on the thread count, so reductions over them (summed in chunk order) give the
// same bits on 1 or 2 threads.
#include <algorithm>
#include <cstdint>
#include <string>

#include "parallel.hpp"
#include "pyfrozen/errors.hpp"
#include "scratch.hpp"

namespace pyfrozen::detail {

/// Calls body(chunk_index, begin, end) for the chunks [begin, end) of [0, count), each
/// `chunk` long (the last one shorter). `work` (element operations for the whole
/// range) picks the thread count. body must not throw.
template <typename Body>
void chunked_for(std::int64_t count, std::int64_t chunk, double work, Body&& body) {
  if (count <= 0) return;
  chunk = std::max<std::int64_t>(1, chunk);
  const std::int64_t n_chunks = (count + chunk - 1) / chunk;
  const int nt = n_chunks > 1 ? threads_for(work, kSerialElements) : 1;
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < n_chunks; ++t)
      body(t, t * chunk, std::min(count, (t + 1) * chunk));
  });
}

/// Sum over chunks of part(begin, end) (a double per chunk), in chunk order.
/// Uses the calling thread's op_2 scratch slot for the partial sums.
template <typename Part>
double chunked_sum(std::int64_t count, std::int64_t chunk, double work, Part&& part) {
  if (count <= 0) return 0.0;
  chunk = std::max<std::int64_t>(1, chunk);
  const std::int64_t n_chunks = (count + chunk - 1) / chunk;
  double* partial = scratch<double>(ScratchSlot::op_2, static_cast<std::size_t>(n_chunks));
  chunked_for(count, chunk, work, [&](std::int64_t t, std::int64_t begin, std::int64_t end) {
    partial[t] = part(begin, end);
  });
  double total = 0.0;
  for (std::int64_t t = 0; t < n_chunks; ++t) total += partial[t];
  return total;
}

/// Throws ShapeError "<op>: <what> must be non-negative, got <v>".
inline void require_non_negative(const char* op, const char* what, std::int64_t v) {
  if (v < 0)
    throw ShapeError(std::string(op) + ": " + what + " must be non-negative, got " +
                     std::to_string(v));
}

}  // namespace pyfrozen::detail
