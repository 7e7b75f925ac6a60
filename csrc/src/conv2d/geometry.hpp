#pragma once
// Private: a validated convolution geometry with the derived sizes every path needs.
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "pyfrozen/conv2d.hpp"

namespace pyfrozen::detail {

using i64 = std::int64_t;

struct ConvGeom {
  i64 n, h, w, c;         // input
  i64 kh, kw, kc, co;     // kernel (co = output channels)
  i64 sh, sw, dh, dw;     // stride, dilation
  i64 pt, pb, pl, pr;     // padding
  i64 groups;
  i64 oh, ow;             // output
  i64 cog;                // output channels per group

  i64 taps() const { return kh * kw; }
  i64 k() const { return kh * kw * kc; }  // GEMM inner size of one group
  i64 pixels() const { return n * oh * ow; }
  i64 macs() const { return pixels() * co * k(); }
  /// groups == c > 1: the direct per-channel kernels.
  bool depthwise() const { return groups == c && groups > 1; }
  /// 1x1, stride 1, no padding: x is already the GEMM's A matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
  }
  /// Depthwise channel multiplier (output channels per input channel).
  i64 multiplier() const { return co / c; }
};

/// Validates shape and params for `op`, throwing ShapeError with the shapes named.
ConvGeom make_geom(const char* op, const Conv2dShape& shape, const Conv2dParams& params);

/// "(input (8, 32, 32, 3), kernel (3, 3, 3, 16))" for messages.
std::string describe(const Conv2dShape& shape);

/// Sorted runs [begin, end) of selected output channels, all of one group each
/// (nullptr channels: every channel). Throws ShapeError for out-of-range or repeated
/// channels. The total length of the runs is the number of selected channels.
struct ChannelRun {
  i64 begin, end;
};
std::vector<ChannelRun> channel_runs(const char* op, const ConvGeom& g, const i64* channels,
                                     i64 n_channels, i64 group_size);

/// The first exception thrown by any thread of a parallel region, rethrown after it:
/// exceptions must not leave a region, so each task catches into one of these.
class ErrorSlot {
 public:
  void capture() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
    failed_ = true;
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

/// Below this many flops a convolution runs on one thread.
constexpr double kConvSerialFlops = 1e6;

/// Team helpers that also work without OpenMP.
int team_rank();
int team_size();

}  // namespace pyfrozen::detail
