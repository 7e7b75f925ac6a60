#pragma once
// 2-D convolution, NHWC activations and HWIO kernels (the Keras / TensorFlow layouts):
// forward (with an optional fused epilogue), backward-input, backward-weight (optionally
// limited to some output channels) and backward-bias as separate entry points, so a
// training step calls only the gradients something needs.
#include <cstdint>

#include "pyfrozen/activation.hpp"
#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Zero padding in input pixels on each side.
struct Conv2dPadding {
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
};

/// Sizes of a convolution's input and kernel.
/// - input x: n x h x w x c (NHWC), c-contiguous;
/// - kernel w: kh x kw x kc x c_out (HWIO), with kc == c / groups.
/// Output y: n x oh x ow x c_out, see conv2d_output_size.
struct Conv2dShape {
  std::int64_t n = 0, h = 0, w = 0, c = 0;
  std::int64_t kh = 0, kw = 0, kc = 0, c_out = 0;
};

/// Stride, dilation, padding and groups. groups divides c and c_out; output channel o
/// reads input channels [g * kc, (g + 1) * kc) with g = o / (c_out / groups).
/// Depthwise is groups == c (> 1): output channel o = ci * multiplier + m reads input
/// channel ci, exactly as a Keras DepthwiseConv2D kernel (kh, kw, c, multiplier)
/// reshaped to (kh, kw, 1, c * multiplier).
struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t dilation_h = 1, dilation_w = 1;
  Conv2dPadding padding{};
  std::int64_t groups = 1;
};

/// Keras / TensorFlow padding names.
enum class Conv2dPaddingMode { valid = 0, same };

/// Explicit padding for a padding mode. valid: none. same: the output has
/// ceil(size / stride) pixels along each axis, and the total padding
/// max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0) is split as TensorFlow
/// does: the odd pixel goes to the bottom / right.
/// Throws ShapeError for non-positive sizes, strides or dilations.
PYFROZEN_API Conv2dPadding conv2d_padding(std::int64_t h, std::int64_t w, std::int64_t kh,
                                          std::int64_t kw, std::int64_t stride_h,
                                          std::int64_t stride_w, std::int64_t dilation_h,
                                          std::int64_t dilation_w, Conv2dPaddingMode mode);

struct Conv2dOutputSize {
  std::int64_t h, w;
};

/// Output height and width after validating everything about `shape` and `params`.
/// Throws ShapeError (naming the op, the input and kernel shapes) when: a size is
/// negative (n may be 0) or zero, kc != c / groups, groups does not divide c or c_out,
/// a stride or dilation is < 1, a padding is negative or not smaller than the dilated
/// kernel extent along its axis, or the output would be empty.
PYFROZEN_API Conv2dOutputSize conv2d_output_size(const Conv2dShape& shape,
                                                 const Conv2dParams& params);

/// Optional per-output-channel epilogue of conv2d_forward: with acc the convolution sum,
/// y = activation(acc * scale[o] + shift[o] + bias[o]); a nullptr term is left out
/// (scale 1, shift 0, bias 0). scale/shift fold an inference-mode BatchNorm in.
template <typename T>
struct Conv2dEpilogue {
  const T* scale = nullptr;  // c_out values
  const T* shift = nullptr;  // c_out values
  const T* bias = nullptr;   // c_out values
  Activation activation = Activation::none;
};

/// y = epilogue(conv(x, w)). x: n x h x w x c, w: kh x kw x kc x c_out, y: n x oh x ow x c_out,
/// all contiguous. y is only written, never read; it must not overlap x, w or the epilogue
/// arrays. Counted as ("conv2d" or, for depthwise, "depthwise_conv2d", forward,
/// n * oh * ow * c_out * kh * kw * kc multiply-adds). T is float or double; threads:
/// get_num_threads(); ISA: active_isa(). Throws ShapeError as conv2d_output_size.
template <typename T>
PYFROZEN_API void conv2d_forward(const Conv2dShape& shape, const Conv2dParams& params, const T* x,
                                 const T* w, T* y, const Conv2dEpilogue<T>& epilogue = {});

/// dx = d(loss)/dx from dy (n x oh x ow x c_out) and w: dx (n x h x w x c) is overwritten
/// (input pixels no output reads, e.g. past the last stride, get 0). dx must not overlap
/// dy or w. Counted like the forward pass, as backward_input.
template <typename T>
PYFROZEN_API void conv2d_backward_input(const Conv2dShape& shape, const Conv2dParams& params,
                                        const T* dy, const T* w, T* dx);

/// dw = d(loss)/dw from x and dy, for the output channels listed in `channels`
/// (n_channels distinct indices in [0, c_out), any order), or for all of them when
/// channels is nullptr. Only the listed channels of dw (kh x kw x kc x c_out) are
/// written, overwritten rather than accumulated; the other channels are not touched
/// (neither read nor written). The work, and the multiply-adds counted as
/// backward_weight, are proportional to the number of listed channels. dw must not
/// overlap x or dy. Throws ShapeError also for an out-of-range or repeated channel.
template <typename T>
PYFROZEN_API void conv2d_backward_weight(const Conv2dShape& shape, const Conv2dParams& params,
                                         const T* x, const T* dy, T* dw,
                                         const std::int64_t* channels = nullptr,
                                         std::int64_t n_channels = 0);

/// db[o] = sum of dy[..., o] over the rows x c_out matrix dy (rows = n * oh * ow).
/// db (c_out values) is overwritten and must not overlap dy. Counted as ("conv2d",
/// backward_bias, rows * c_out elements). Throws ShapeError for negative sizes.
template <typename T>
PYFROZEN_API void conv2d_backward_bias(std::int64_t rows, std::int64_t c_out, const T* dy, T* db);

#define PYFROZEN_CONV2D_EXTERN(T)                                                              \
  extern template void conv2d_forward<T>(const Conv2dShape&, const Conv2dParams&, const T*,  \
                                         const T*, T*, const Conv2dEpilogue<T>&);             \
  extern template void conv2d_backward_input<T>(const Conv2dShape&, const Conv2dParams&,     \
                                                const T*, const T*, T*);                      \
  extern template void conv2d_backward_weight<T>(const Conv2dShape&, const Conv2dParams&,    \
                                                 const T*, const T*, T*, const std::int64_t*, \
                                                 std::int64_t);                               \
  extern template void conv2d_backward_bias<T>(std::int64_t, std::int64_t, const T*, T*);
PYFROZEN_CONV2D_EXTERN(float)
PYFROZEN_CONV2D_EXTERN(double)
#undef PYFROZEN_CONV2D_EXTERN

}  // namespace pyfrozen
