#pragma once
// New output arrays for the kernels. Large ones come from a small cache of the blocks
// that earlier outputs freed: a predict call allocates the same sizes every time, and
// glibc, left to itself, trims the freed heap at the end of each call and faults its
// pages in again in the next (MobileNet 1.0 predict, batch 32, Zen 4: 2,031 faults a
// call, 8-16 % of its time). A training step keeps enough memory live that glibc does not
// trim. The cache is bounded (set_cache_limit): it holds at most that many freed bytes.
#include <pybind11/numpy.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pyfrozen::python {

namespace py = pybind11;

/// An uninitialised C-contiguous array of `dtype` and `shape` (numpy.empty's contract):
/// from the cache when it is at least kCachedBytes and a cached block fits.
py::array new_array(const py::dtype& dtype, const std::vector<std::int64_t>& shape);
/// new_array(like.dtype(), like's shape).
py::array new_array_like(const py::array& like);

/// The name of the capsule an output array's base is: the tape (pyfrozen/autograd/tape.py)
/// recognises an array that is its block's only owner by it.
inline constexpr const char* kBlockCapsuleName = "pyfrozen.output_block";
/// Blocks below this go to numpy's allocator (glibc serves them from its arenas).
inline constexpr std::size_t kCachedBytes = std::size_t{256} << 10;

struct CacheInfo {
  std::size_t held_bytes, held_blocks, limit_bytes;
  std::uint64_t hits, misses;
};
CacheInfo cache_info();
/// Bytes the cache may hold (0: none; freed blocks go straight back). Evicts to fit.
void set_cache_limit(std::size_t bytes);
/// Frees every cached block (arrays in use are untouched).
void empty_cache();
/// Test hook: fill every block handed out again with NaN bits, so a kernel that reads
/// an output before writing it shows up.
void set_cache_poison(bool on);

}  // namespace pyfrozen::python
