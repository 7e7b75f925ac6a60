#pragma once
// Private: argument checks shared by the dense helpers.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "pyfrozen/errors.hpp"

namespace pyfrozen::detail {

/// Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte.
inline bool overlaps(const void* a, std::int64_t a_bytes, const void* b, std::int64_t b_bytes) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(a), b0 = reinterpret_cast<std::uintptr_t>(b);
  return a_bytes > 0 && b_bytes > 0 && a0 < b0 + static_cast<std::uintptr_t>(b_bytes) &&
         b0 < a0 + static_cast<std::uintptr_t>(a_bytes);
}

inline void check_disjoint(const char* op, const char* out_name, const void* out,
                           std::int64_t out_bytes, const char* in_name, const void* in,
                           std::int64_t in_bytes) {
  if (overlaps(out, out_bytes, in, in_bytes))
    throw ShapeError(std::string(op) + ": " + out_name + " overlaps " + in_name +
                     " in memory; pass a separate output");
}

inline void check_sizes(const char* op, std::initializer_list<std::pair<const char*, std::int64_t>> sizes) {
  for (const auto& [name, value] : sizes)
    if (value < 0)
      throw ShapeError(std::string(op) + ": " + name + " must be >= 0, got " +
                       std::to_string(value));
}

/// Index list for a limited backward: strictly increasing, each in [0, limit).
inline void check_index_list(const char* op, const char* what, const std::int64_t* idx,
                             std::int64_t count, std::int64_t limit, const char* limit_name) {
  for (std::int64_t i = 0; i < count; ++i) {
    if (idx[i] < 0 || idx[i] >= limit)
      throw ShapeError(std::string(op) + ": " + what + "[" + std::to_string(i) + "] = " +
                       std::to_string(idx[i]) + " is out of range for " + limit_name + " = " +
                       std::to_string(limit));
    if (i > 0 && idx[i] <= idx[i - 1])
      throw ShapeError(std::string(op) + ": " + what + " must be strictly increasing, but " +
                       what + "[" + std::to_string(i) + "] = " + std::to_string(idx[i]) +
                       " follows " + std::to_string(idx[i - 1]));
  }
}

}  // namespace pyfrozen::detail
