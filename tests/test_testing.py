"""pyfrozen.testing: check_op and check_layer pass correct code and catch broken code."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.autograd import Function, GradcheckError
from pyfrozen.layers import Dense, Layer
from pyfrozen.ops import _util
from pyfrozen.testing import check_layer, check_op

# ---- check_op ---------------------------------------------------------------------------------





def test_check_op_passes_builtin_ops_and_reports_traces():
    rng = np.random.default_rng(1)
    report = check_op(lambda a, b: a * b + a, rng.standard_normal((2, 3)), rng.standard_normal(3))
    assert len(report.grads) == 2 and set(report.traces) == {(), (0,), (1,), (0, 1)}


def test_check_op_catches_a_wrong_gradient_and_a_wrong_float32_dtype(cube_ops):
    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(GradcheckError):
        check_op(cube_ops.WrongCube.apply, x)
    with pytest.raises(RuntimeError, match=r"gradient float64 \(3,\) does not match its input"):
        check_op(cube_ops.Float64Grad.apply, x)



# ---- check_layer: user layers with the bugs it exists to catch -----------------------------------


class Scale(Layer):
    """y = x * scale, per feature; ``scale=`` sets the initial value. Correct."""

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), lambda shape, dtype: np.full(
            shape, self.scale, dtype))

    def call(self, x):
        return x * self.w

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


class ReciprocalConfig(Scale):
    """Keeps 1/scale and reports that in its config: the config does not round-trip."""

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.inverse = 1.0 / scale

    def get_config(self):
        return {**super().get_config(), "scale": self.inverse}


class ScaleIgnoringFlags(Function):
    """x * w whose backward computes (and counts) dw even when nobody asked for it."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        _util.count("scale_ignoring_flags", "backward_input", dy.size)
        _util.count("scale_ignoring_flags", "backward_weight", dy.size)
        dw = (x * dy).reshape(-1, x.shape[-1]).sum(axis=0)
        return dy * w, dw


class WastefulWhenFrozen(Scale):
    """Right values and gradients, but frozen it still runs its weight-gradient kernel."""

    def call(self, x):
        return ScaleIgnoringFlags.apply(x, self.w)


class WrongGradient(Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = dy * w if ctx.needs_input_grad[0] else None
        dw = 1.01 * (x * dy).reshape(-1, x.shape[-1]).sum(axis=0) if (
            ctx.needs_input_grad[1]) else None
        return dx, dw


class WrongWeightGradient(Scale):
    def call(self, x):
        return WrongGradient.apply(x, self.w)


def test_check_layer_passes_a_correct_user_layer():
    report = check_layer(Scale, {"scale": 0.5}, (3, 4), expected_output_shape=(3, 4),
                         expected_num_trainable_weights=1, expected_num_non_trainable_weights=0,
                         expected_num_params=4)
    data = np.random.default_rng(0).standard_normal((3, 4))  # check_layer's input (seed 0)
    np.testing.assert_allclose(report.output, 0.5 * data, rtol=1e-6)
    np.testing.assert_array_equal(report.layer.w.numpy(), np.full(4, 0.5, np.float32))


def test_check_layer_catches_a_config_that_does_not_round_trip():
    with pytest.raises(AssertionError, match="config round trip differs"):
        check_layer(ReciprocalConfig, {"scale": 4.0}, (2, 3))


def test_check_layer_catches_weight_gradient_work_in_a_frozen_layer():
    with pytest.raises(AssertionError, match="weight-gradient kernels ran for a frozen layer"):
        check_layer(WastefulWhenFrozen, {}, (2, 3))


def test_check_layer_catches_a_wrong_weight_gradient():
    with pytest.raises(GradcheckError, match="input 1"):
        check_layer(WrongWeightGradient, {}, (2, 3))


def test_check_layer_catches_wrong_expectations():
    with pytest.raises(AssertionError, match=r"output shape \(2, 3\), expected \(2, 4\)"):
        check_layer(Dense, {"units": 3}, (2, 5), expected_output_shape=(2, 4))
    with pytest.raises(AssertionError, match="2 trainable weights, expected 1"):
        check_layer(Dense, {"units": 3}, (2, 5), expected_num_trainable_weights=1)
    with pytest.raises(AssertionError, match="0 non-trainable weights, expected 2"):
        check_layer(Dense, {"units": 3}, (2, 5), expected_num_non_trainable_weights=2)
    with pytest.raises(AssertionError, match="18 params, expected 15"):
        check_layer(Dense, {"units": 3}, (2, 5), expected_num_params=15)
