#pragma once
// Private: per-thread scratch buffers that grow and are then reused, so kernels
// allocate nothing once warm. thread_local makes each buffer belong to
// the thread using it: OpenMP workers have their own, and two Python threads that
// call at once (the GIL is released) never share one.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace pyfrozen::detail {

/// One buffer per slot and thread. GEMM owns the gemm_* slots (gemm_packed_b: a B
/// packed once for several products, packed_b.hpp); a kernel that calls GEMM while
/// holding a buffer (e.g. a convolution's im2col tile) uses the op_* slots.
enum class ScratchSlot { gemm_a = 0, gemm_b, gemm_edge, gemm_packed_b, op_0, op_1, op_2, count };

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }

  /// At least `bytes` bytes, 64-byte aligned; contents are unspecified.
  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      data_ = std::aligned_alloc(64, rounded);
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = rounded;
    }
    return data_;
  }

 private:
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

template <typename T>
T* scratch(ScratchSlot slot, std::size_t count) {
  thread_local Scratch slots[static_cast<int>(ScratchSlot::count)];
  return static_cast<T*>(slots[static_cast<int>(slot)].get(count * sizeof(T)));
}

}  // namespace pyfrozen::detail
