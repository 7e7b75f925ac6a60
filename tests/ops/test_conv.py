"""conv2d and depthwise_conv2d: gradients (float64 finite differences, every frozen
input, float32 on every ISA path), torch oracle, save-by-need and pruning through
trace(), channel-limited weight gradients for masked kernels, argument errors."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op

# ---- torch references ----------------------------------------------------------------


def _torch_act(torch, y, activation):
    if activation is None:
        return y
    if activation == "relu6":
        return torch.clamp(y, 0.0, 6.0)
    return getattr(torch, activation)(y)


def _torch_pads(x_shape, k_hw, stride, dilation, padding):
    if isinstance(padding, str):
        return pyfrozen._core.conv2d_padding(x_shape[1], x_shape[2], k_hw[0], k_hw[1],
                                             stride, dilation, padding)
    return padding


def torch_conv2d(torch, x, k, b, *, stride, padding, dilation, groups, activation):
    """NHWC / HWIO through torch's NCHW / OIHW conv2d, with TF's asymmetric padding."""
    F = torch.nn.functional  # noqa: N806
    top, bottom, left, right = _torch_pads(x.shape, k.shape[:2], stride, dilation, padding)
    xn = F.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
    y = F.conv2d(xn, k.permute(3, 2, 0, 1), b, stride=stride, dilation=dilation,
                 groups=groups)
    return _torch_act(torch, y, activation).permute(0, 2, 3, 1)


def torch_depthwise(torch, x, k, b, *, stride, padding, dilation, activation):
    kh, kw, c, m = k.shape
    w = k.reshape(kh, kw, 1, c * m)  # output channel ci * m + j, as Keras
    return torch_conv2d(torch, x, w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=c, activation=activation)


# ---- cases -----------------------------------------------------------------------------


class Case(NamedTuple):
    name: str
    x: tuple[int, int, int, int]
    k: tuple[int, int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: str | tuple[int, int, int, int] = "valid"
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = False
    activation: str | None = None

    def kwargs(self) -> dict:
        return dict(strides=self.stride, padding=self.padding, dilation_rate=self.dilation,
                    activation=self.activation)


CONV_CASES = [
    Case("3x3_valid", (2, 5, 5, 3), (3, 3, 3, 4)),
    Case("3x3_same_bias_tanh", (1, 5, 6, 2), (3, 3, 2, 3), padding="same", bias=True,
         activation="tanh"),
    Case("stride2_same_asym", (1, 6, 6, 2), (3, 3, 2, 3), stride=(2, 2), padding="same",
         bias=True),
    Case("explicit_pad_dilation", (1, 6, 5, 2), (2, 2, 2, 3), padding=(2, 0, 1, 0),
         dilation=(2, 1), activation="sigmoid"),
    Case("groups2_relu", (1, 4, 4, 4), (3, 3, 2, 4), padding="same", groups=2, bias=True,
         activation="relu"),
    Case("1x1_stride_2x1", (2, 4, 3, 3), (1, 1, 3, 5), stride=(2, 1), bias=True,
         activation="relu6"),
]

DEPTHWISE_CASES = [
    Case("dw_m1_same", (1, 5, 5, 3), (3, 3, 3, 1), padding="same", bias=True),
    Case("dw_m2_s2", (2, 5, 6, 2), (3, 3, 2, 2), stride=(2, 2), padding="same",
         activation="tanh"),
    Case("dw_m3_valid_dil", (1, 6, 6, 2), (2, 2, 2, 3), dilation=(2, 2), bias=True,
         activation="sigmoid"),
]


def _conv_fn(case: Case):
    def fn(x, k, b=None):
        return ops.conv2d(x, k, b, groups=case.groups, **case.kwargs())
    return fn


def _depthwise_fn(case: Case):
    def fn(x, k, b=None):
        return ops.depthwise_conv2d(x, k, b, **case.kwargs())
    return fn


def _bias_arrays(case: Case, c_out: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.standard_normal(case.x), rng.standard_normal(case.k) * 0.5]
    if case.bias:
        out.append(rng.standard_normal(c_out))
    return out


# ---- gradients and oracle ----------------------------------------------------------------


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_conv2d_check_op(case, torch):
    def torch_fn(x, k, b=None):
        return torch_conv2d(torch, x, k, b, stride=case.stride, padding=case.padding,
                            dilation=case.dilation, groups=case.groups,
                            activation=case.activation)

    arrays = _bias_arrays(case, case.k[3])
    report = check_op(_conv_fn(case), *arrays, torch_fn=torch_fn)
    _assert_save_by_need(report, arrays, case.activation, "conv2d")


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: c.name)
def test_depthwise_check_op(case, torch):
    def torch_fn(x, k, b=None):
        return torch_depthwise(torch, x, k, b, stride=case.stride, padding=case.padding,
                               dilation=case.dilation, activation=case.activation)

    arrays = _bias_arrays(case, case.k[2] * case.k[3])
    report = check_op(_depthwise_fn(case), *arrays, torch_fn=torch_fn)
    _assert_save_by_need(report, arrays, case.activation, "depthwise_conv2d")


def _assert_save_by_need(report, arrays, activation, kernel):
    """x frozen: no dX kernel, keeps x only; kernel frozen: no dW kernel, keeps the kernel.

    (The activation's derivative runs as bias_act backward_input whenever anything
    trains: it is dy for every conv gradient, so only the conv kernels are checked.)"""
    x, k = arrays[0], arrays[1]
    out_bytes = 0
    if activation is not None:
        out_bytes = report.traces[()].saved_bytes - x.nbytes - k.nbytes
        assert out_bytes > 0  # the activation keeps its output
    stem, frozen_k = report.traces[(0,)], report.traces[(1,)]
    assert not stem.ran(kernel=kernel, pass_="backward_input")
    assert stem.ran(kernel=kernel, pass_="backward_weight")
    assert stem.saved_bytes == x.nbytes + out_bytes  # x, not the kernel
    assert not frozen_k.ran(kernel=kernel, pass_="backward_weight")
    assert frozen_k.ran(kernel=kernel, pass_="backward_input")
    assert frozen_k.saved_bytes == k.nbytes + out_bytes  # the kernel, not x
    if len(arrays) == 3:
        no_bias = report.traces[(2,)]
        assert not no_bias.ran(pass_="backward_bias")
        assert report.traces[()].ran(pass_="backward_bias")


def test_depthwise_kernel_is_a_view_not_a_copy():
    """The (KH, KW, Cin, M) kernel reaches the core reshaped, without a copy, and a
    Parameter's storage is not counted as saved bytes (it is alive anyway)."""
    rng = np.random.default_rng(1)
    x = pyfrozen.tensor(rng.standard_normal((1, 5, 5, 4)), requires_grad=True)
    k = pyfrozen.Parameter(rng.standard_normal((3, 3, 4, 2)), trainable=False)
    with trace() as tr:
        y = ops.depthwise_conv2d(x, k, padding="same")
    assert y.shape == (1, 5, 5, 8)
    assert tr.saved_bytes == 0  # only the (uncounted) kernel Parameter is kept


def test_saved_kernel_is_the_parameters_own_storage():
    """The kernel kept for dX is the Parameter's array itself (version-checked), not the
    depthwise view: changing it in place before backward is refused."""
    rng = np.random.default_rng(8)
    x = pyfrozen.tensor(rng.standard_normal((1, 5, 5, 2)), requires_grad=True)
    k = pyfrozen.Parameter(rng.standard_normal((3, 3, 2, 2)), trainable=False)
    y = ops.depthwise_conv2d(x, k)
    k.data[...] = 0.0
    k._bump_version()
    with pytest.raises(RuntimeError, match=r"depthwise_conv2d: an array saved for backward "
                                           r"was modified in place"):
        y.backward(np.ones(y.shape))


def test_only_bias_trains_runs_only_the_bias_kernel():
    rng = np.random.default_rng(2)
    x = pyfrozen.tensor(rng.standard_normal((1, 4, 4, 2)))
    k = pyfrozen.Parameter(rng.standard_normal((3, 3, 2, 3)), trainable=False)
    b = pyfrozen.Parameter(np.zeros(3))
    with trace() as tr:
        y = ops.conv2d(x, k, b)
        y.backward(np.ones(y.shape))
    assert tr.saved_bytes == 0
    assert [r.pass_ for r in tr.kernels if r.pass_.startswith("backward")] == ["backward_bias"]
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, 4.0))


# ---- masked kernels: weight gradient only for trainable channels ----------------------------


def _masked_grads(fn, x, k_data, mask):
    full = pyfrozen.Parameter(k_data.copy())
    with trace() as t_full:
        fn(x, full).backward(np.ones(fn(x, full).shape))
    masked = pyfrozen.Parameter(k_data.copy(), freeze_mask=mask)
    with trace() as t_masked:
        y = fn(x, masked)
        y.backward(np.ones(y.shape))
    return full.grad.numpy(), masked.grad.numpy(), t_full, t_masked


def _weight_work(tr):
    records = tr.ran(pass_="backward_weight")
    assert len(records) == 1
    return records[0].work


def test_conv2d_masked_output_channels_cost_in_proportion():
    rng = np.random.default_rng(3)
    x = pyfrozen.tensor(rng.standard_normal((2, 6, 6, 3)))
    k = rng.standard_normal((3, 3, 3, 8))
    frozen = np.array([True, False, True, True, False, True, True, True])  # 2 of 8 train

    def fn(x, kernel):
        return ops.conv2d(x, kernel, padding="same")

    g_full, g_masked, t_full, t_masked = _masked_grads(fn, x, k, frozen)
    np.testing.assert_array_equal(g_masked[..., frozen], 0.0)
    np.testing.assert_allclose(g_masked[..., ~frozen], g_full[..., ~frozen], rtol=1e-12)
    assert _weight_work(t_masked) * 8 == _weight_work(t_full) * 2


def test_conv2d_mask_not_whole_channels_computes_everything():
    """A mask that varies inside a channel falls back to the full kernel (tape zeroes)."""
    rng = np.random.default_rng(4)
    x = pyfrozen.tensor(rng.standard_normal((1, 5, 5, 2)))
    k = rng.standard_normal((3, 3, 2, 4))
    mask = np.zeros(k.shape, bool)
    mask[0, 0, 0, 1] = True

    def fn(x, kernel):
        return ops.conv2d(x, kernel)

    g_full, g_masked, t_full, t_masked = _masked_grads(fn, x, k, mask)
    assert g_masked[0, 0, 0, 1] == 0.0
    np.testing.assert_allclose(g_masked[~mask], g_full[~mask], rtol=1e-12)
    assert _weight_work(t_masked) == _weight_work(t_full)


def test_depthwise_masked_input_channels_cost_in_proportion():
    rng = np.random.default_rng(5)
    x = pyfrozen.tensor(rng.standard_normal((1, 6, 6, 4)))
    k = rng.standard_normal((3, 3, 4, 2))
    frozen = np.array([True, False, True, True]).reshape(1, 1, 4, 1)  # input channel 1 trains

    def fn(x, kernel):
        return ops.depthwise_conv2d(x, kernel, padding="same")

    g_full, g_masked, t_full, t_masked = _masked_grads(fn, x, k, frozen)
    np.testing.assert_array_equal(g_masked[:, :, [0, 2, 3], :], 0.0)
    np.testing.assert_allclose(g_masked[:, :, 1, :], g_full[:, :, 1, :], rtol=1e-12)
    assert _weight_work(t_masked) * 4 == _weight_work(t_full)


# ---- pruning in a two-conv chain ---------------------------------------------------------


def test_stem_never_computes_dx_and_frozen_kernel_never_dw():
    rng = np.random.default_rng(6)
    x = pyfrozen.tensor(rng.standard_normal((1, 6, 6, 2)))  # data: needs no gradient
    k1 = pyfrozen.Parameter(rng.standard_normal((3, 3, 2, 3)))
    k2 = pyfrozen.Parameter(rng.standard_normal((3, 3, 3, 2)), trainable=False)
    with trace() as tr:
        with pyfrozen.autograd.name_scope("stem"):
            h = ops.conv2d(x, k1, activation="tanh")
        with pyfrozen.autograd.name_scope("top"):
            y = ops.conv2d(h, k2)
        y.backward(np.ones(y.shape))
    assert not tr.ran(layer="stem", kernel="conv2d", pass_="backward_input")
    assert tr.ran(layer="stem", kernel="conv2d", pass_="backward_weight")
    assert not tr.ran(layer="top", pass_="backward_weight")
    assert tr.ran(layer="top", kernel="conv2d", pass_="backward_input")
    assert k2.grad is None and k1.grad is not None
    # stem keeps x and its output (tanh); top keeps only its (uncounted) kernel Parameter
    assert tr.by_layer() == {"stem": x.data.nbytes + h.data.nbytes, "top": 0}


# ---- errors ----------------------------------------------------------------------------------


def _xk(x_shape=(1, 5, 5, 3), k_shape=(3, 3, 3, 4), dtype=np.float64):
    return (pyfrozen.tensor(np.zeros(x_shape, dtype)), pyfrozen.tensor(np.zeros(k_shape, dtype)))


@pytest.mark.parametrize(("x_shape", "k_shape", "kwargs", "match"), [
    ((5, 5, 3), (3, 3, 3, 4), {}, r"conv2d: input must be 4-D .* got shape \(5, 5, 3\)"),
    ((1, 5, 5, 3), (3, 3, 4), {}, r"conv2d: kernel must be 4-D .* \(3, 3, 4\)"),
    ((1, 5, 5, 3), (3, 3, 2, 4), {},
     r"conv2d: input has 3 channels but kernel expects 2 .*\(input \(1, 5, 5, 3\), "
     r"kernel \(3, 3, 2, 4\)\)"),
    ((1, 5, 5, 4), (3, 3, 2, 3), {"groups": 2}, r"groups=2 does not divide .* 3 output"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"groups": 0}, r"groups must be a positive int"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"padding": "full"},
     r"conv2d: padding must be 'valid', 'same', got 'full'"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"padding": (1, 1, 1)}, r"4 non-negative ints"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"padding": (3, 0, 0, 0)},
     r"padding \(3, 0, 0, 0\) must be smaller than the dilated kernel extent"),
    ((1, 2, 5, 3), (3, 3, 3, 4), {}, r"kernel \(3, 3, 3, 4\) .* does not fit input"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"strides": 0}, r"strides must be >= 1"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"dilation_rate": (1, 0)}, r"dilation_rate must be >= 1"),
    ((1, 5, 5, 3), (3, 3, 3, 4), {"activation": "gelu"}, r"unknown activation 'gelu'"),
])
def test_conv2d_value_errors(x_shape, k_shape, kwargs, match):
    x, k = _xk(x_shape, k_shape)
    with pytest.raises(ValueError, match=match):
        ops.conv2d(x, k, **kwargs)


def test_conv2d_bias_and_type_errors():
    x, k = _xk()
    with pytest.raises(ValueError, match=r"conv2d: bias \(3,\) does not match kernel "
                                         r"\(3, 3, 3, 4\)"):
        ops.conv2d(x, k, pyfrozen.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match=r"conv2d: input must be float32 or float64, got int64"):
        ops.conv2d(pyfrozen.tensor(np.zeros((1, 5, 5, 3), np.int64)), k)
    with pytest.raises(TypeError, match=r"different float dtypes"):
        ops.conv2d(x, pyfrozen.tensor(np.zeros((3, 3, 3, 4), np.float32)))
    with pytest.raises(TypeError, match=r"conv2d: kernel must be a Tensor, got list"):
        ops.conv2d(x, [[1.0]])
    with pytest.raises(TypeError, match=r"strides must be an int or a pair of ints"):
        ops.conv2d(x, k, strides=(1, 2, 3))


def test_depthwise_errors():
    x = pyfrozen.tensor(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: input has 3 channels but kernel "
                                         r"expects 4 \(input \(1, 5, 5, 3\), kernel "
                                         r"\(3, 3, 4, 2\)\)"):
        ops.depthwise_conv2d(x, pyfrozen.tensor(np.zeros((3, 3, 4, 2))))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: kernel must be 4-D"):
        ops.depthwise_conv2d(x, pyfrozen.tensor(np.zeros((3, 3, 3))))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: bias \(3,\) does not match "
                                         r"kernel \(3, 3, 3, 2\) \(6 output channels\)"):
        ops.depthwise_conv2d(x, pyfrozen.tensor(np.zeros((3, 3, 3, 2))),
                             pyfrozen.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: padding must be"):
        ops.depthwise_conv2d(x, pyfrozen.tensor(np.zeros((3, 3, 3, 1))), padding="causal")


def test_padding_names_are_case_insensitive_and_non_contiguous_input_works():
    rng = np.random.default_rng(7)
    x_nchw = rng.standard_normal((1, 3, 5, 5))
    x = pyfrozen.tensor(x_nchw).numpy().transpose(0, 2, 3, 1)  # a non-contiguous view
    k = pyfrozen.tensor(rng.standard_normal((3, 3, 3, 2)))
    got = ops.conv2d(pyfrozen.Tensor.from_numpy(x), k, padding="SAME").numpy()
    want = ops.conv2d(pyfrozen.tensor(np.ascontiguousarray(x)), k, padding="same").numpy()
    np.testing.assert_array_equal(got, want)
