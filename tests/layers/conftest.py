"""Helpers shared by the convolution layer tests, handed out as the ``conv_kit`` fixture
(under --import-mode=importlib test files cannot import each other)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.testing import check_layer


def check_case(cls, weight_names, kwargs, input_shape, out_shape, n_weights, n_params):
    """check_layer with a case's expected shape and counts; weights named as Keras, in order."""
    report = check_layer(cls, kwargs, input_shape, expected_output_shape=out_shape,
                         expected_num_trainable_weights=n_weights,
                         expected_num_non_trainable_weights=0, expected_num_params=n_params)
    assert [w.name for w in report.layer.weights] == weight_names[:n_weights]


def random_layer(cls, kwargs, input_shape):
    """A float64 layer built on a random input, then given random weights (seed 1)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(input_shape)
    layer = cls(**kwargs, dtype="float64")
    layer(x)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])
    return layer, x


def kernel_taps(x, layer):
    """``(i, j, patch)`` for each kernel tap: the input pixels that tap (i, j) meets at every
    output position (strided, dilated, after TensorFlow's 'same' padding), in plain numpy."""
    _, h, w, _ = x.shape
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if layer.padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
    return [(i, j, x[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw])
            for i in range(kh) for j in range(kw)]


def assert_forward(layer, x, conv_out):
    """``layer(x)`` equals ``activation(conv_out + bias)`` to float64 rounding."""
    if layer.use_bias:
        conv_out = conv_out + layer.bias.numpy()
    want = layer.activation(pyfrozen.tensor(conv_out)).numpy()
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-12, atol=1e-12)


def twin_layers(cls, kwargs, x):
    """Two float64 layers built on ``x`` with the same weights (one to mask, one not)."""
    full = cls(**kwargs, dtype="float64")
    full(x)
    twin = cls(**kwargs, dtype="float64")
    twin(x)
    twin.set_weights(full.get_weights())
    return full, twin


def weight_gradient_work(layers, x, dy, op=None):
    """Per layer, the work of its one weight-gradient kernel (of ``op``, if given) in a
    forward and backward pass of ``x`` with output gradient ``dy``."""
    works = []
    for layer in layers:
        with trace() as tr:
            layer(x).backward(dy)
        (record,) = [r for r in tr.ran(layer=layer.name, pass_="backward_weight")
                     if op is None or r.op == op]
        works.append(record.work)
    return works


@pytest.fixture
def conv_kit() -> SimpleNamespace:
    return SimpleNamespace(check_case=check_case, random_layer=random_layer,
                           kernel_taps=kernel_taps, assert_forward=assert_forward,
                           twin_layers=twin_layers, weight_gradient_work=weight_gradient_work)
