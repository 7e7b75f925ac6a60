"""Batch normalization over the last (channel) axis, in Keras's two modes.

Training mode normalizes with the batch statistics and updates the moving statistics
in place (Keras's rule: ``moving = momentum * moving + (1 - momentum) * batch``, with
the biased batch variance). Inference mode, also what a frozen Keras
BatchNormalization runs while the rest of the model trains, normalizes with the
moving statistics: its input gradient is a per-channel scale, so with gamma frozen
the op keeps only that scale (C numbers), not the activation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops import activation as activation_ops
from pyfrozen.ops._util import activation_name, float_operand
from pyfrozen.ops.conv import output_recomputer
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Ops. Inputs are x, then gamma and beta when given: ``ctx.slots`` says which.
# ---------------------------------------------------------------------------------------


# Activations whose derivative is a mask of the pre-activation: taken from x and the
# forward's affine constants in backward instead of from the output.
_MASK_ACTIVATIONS = ("relu", "relu6")


def _needs(ctx) -> tuple[bool, bool, bool]:
    """(dx, dgamma, dbeta) needed, whatever subset of gamma / beta was passed."""
    needs = dict(zip(ctx.slots, ctx.needs_input_grad, strict=True))
    return needs["x"], needs.get("gamma", False), needs.get("beta", False)


def _grads(ctx, dx, dgamma, dbeta) -> tuple:
    by_name = {"x": dx, "gamma": dgamma, "beta": dbeta}
    return tuple(by_name[s] for s in ctx.slots)


def _split(ctx, arrays):
    by_name = dict(zip(ctx.slots, arrays, strict=True))
    return by_name["x"], by_name.get("gamma"), by_name.get("beta")


class BatchNormTraining(Function):
    """Batch statistics; updates ``running_mean`` / ``running_var`` (arrays) in place.
    An ``activation`` is applied in the normalizing pass and differentiated inside the
    backward's passes (no separate activation pass or gradient): relu / relu6 from x
    with the forward's affine constants, the others from the output."""

    name = "batch_norm"

    @staticmethod
    def forward(ctx, *arrays, slots, epsilon, momentum, running_mean, running_var,
                activation, recompute=None):
        ctx.slots = slots
        ctx.activation = activation
        x, gamma, beta = _split(ctx, arrays)
        need_dx, need_dgamma, _ = _needs(ctx)
        stats = need_dx or need_dgamma
        # A relu / relu6 mask is recomputed from x (kept for these gradients anyway) with
        # the forward's own affine constants (3C values): the backward's two passes then
        # read dy and x, not y as well. Other activations' derivatives read y.
        affine = (np.empty((3, x.shape[-1]), x.dtype)
                  if stats and activation in _MASK_ACTIVATIONS else None)
        y, mean, inv_std = _core.batchnorm_forward_training(
            np.ascontiguousarray(x), gamma, beta, epsilon=epsilon, momentum=momentum,
            running_mean=running_mean, running_var=running_var, activation=activation,
            affine_out=affine)
        # dbeta = sum(dy) needs nothing; dx and dgamma need x (or the function that
        # recomputes it) and its statistics; every gradient through an activation needs
        # its output (appended last) or the affine constants.
        if stats:
            ctx.recompute = recompute
            ctx.save_for_backward(x if recompute is None else None, mean, inv_std,
                                  gamma if need_dx else None, affine)
        if activation != "none" and affine is None:
            ctx.save_output()
        return y

    @staticmethod
    def backward(ctx, dy):
        need_dx, need_dgamma, need_dbeta = _needs(ctx)
        saved = list(ctx.saved_tensors)
        x = mean = inv_std = gamma = affine = None
        if need_dx or need_dgamma:
            x, mean, inv_std, gamma, affine = saved[:5]
            if ctx.recompute is not None:
                x = ctx.recompute()
        y = saved[-1] if ctx.activation != "none" and affine is None else None
        dx, dgamma, dbeta = _core.batchnorm_backward_training(
            np.ascontiguousarray(dy), None if x is None else np.ascontiguousarray(x), gamma,
            mean, inv_std, need_dx=need_dx, need_dgamma=need_dgamma, need_dbeta=need_dbeta,
            y=y, activation=ctx.activation, affine=affine)
        return _grads(ctx, dx, dgamma, dbeta)


class BatchNormInference(Function):
    """Moving statistics as constants: dx = dy * gamma * inv_std, no batch reduction."""

    name = "batch_norm"

    @staticmethod
    def forward(ctx, *arrays, slots, epsilon, running_mean, running_var):
        ctx.slots = slots
        x, gamma, beta = _split(ctx, arrays)
        need_dx, need_dgamma, _ = _needs(ctx)
        y = _core.batchnorm_forward_inference(np.ascontiguousarray(x), gamma, beta,
                                              running_mean, running_var, epsilon=epsilon)
        ctx.epsilon = epsilon
        if need_dgamma:
            # dgamma = sum(dy * x_hat) needs x; copies of the (C,) statistics keep the
            # gradient right even if a training-mode call moves them before backward.
            ctx.save_for_backward(x, running_mean.copy(), running_var.copy(),
                                  gamma if need_dx else None)
        elif need_dx:
            # Only the per-channel scale: C numbers instead of the activation.
            scale = 1.0 / np.sqrt(running_var + epsilon)
            if gamma is not None:
                scale *= gamma
            ctx.save_for_backward(scale)
        return y

    @staticmethod
    def backward(ctx, dy):
        need_dx, need_dgamma, need_dbeta = _needs(ctx)
        dy = np.ascontiguousarray(dy)
        if need_dgamma:
            x, mean, var, gamma = ctx.saved_tensors
            dx, dgamma, dbeta = _core.batchnorm_backward_inference(
                dy, np.ascontiguousarray(x), gamma, mean, var, epsilon=ctx.epsilon,
                need_dx=need_dx, need_dgamma=True, need_dbeta=need_dbeta)
            return _grads(ctx, dx, dgamma, dbeta)
        scale = ctx.saved_tensors[0] if need_dx else None
        c = dy.shape[-1]
        # The counted core kernel with gamma = scale, var = 1 and epsilon = 0 computes
        # dx = dy * scale * 1/sqrt(1) exactly (no saved x, mean or var needed).
        dx, _, dbeta = _core.batchnorm_backward_inference(
            dy, None, scale, np.zeros(c, dy.dtype), np.ones(c, dy.dtype), epsilon=0.0,
            need_dx=need_dx, need_dgamma=False, need_dbeta=need_dbeta)
        return _grads(ctx, dx, None, dbeta)


# ---------------------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------------------


def _channel_tensor(t: Any, name: str, x: Tensor, op: str, *, stat: bool) -> Tensor:
    t = float_operand(t, op, name)
    if t.shape != (x.shape[-1],):
        raise ValueError(f"{op}: {name} {t.shape} does not match the channels of input "
                         f"{x.shape} (expected ({x.shape[-1]},))")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: {name} is {t.dtype} {t.shape} but input is {x.dtype} "
                        f"{x.shape}; pyfrozen never casts silently")
    if stat and t.requires_grad:
        raise ValueError(f"{op}: {name} must not require a gradient: the moving statistics "
                         "are non-trainable state, updated by the training-mode forward")
    return t


def _check_scalars(epsilon: float, momentum: float, op: str) -> None:
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"{op}: epsilon must be finite and >= 0, got {epsilon!r}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1] (Keras's weight of the old "
                         f"moving value, e.g. 0.99), got {momentum!r}")


def batch_norm(
    x: Any,
    gamma: Tensor | None,
    beta: Tensor | None,
    moving_mean: Tensor,
    moving_variance: Tensor,
    *,
    training: bool,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    activation: str | None = None,
    recompute_input: bool = False,
) -> Tensor:
    """Batch normalization over the last axis (the BatchNormalization layer's op).

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` per channel, with mean and
    var taken over every axis but the last.

    - ``training=True``: mean and var are the batch's (var biased, two passes), and
      ``moving_mean`` / ``moving_variance`` are updated in place with Keras's rule
      ``moving = momentum * moving + (1 - momentum) * batch_stat`` (their version
      counters are bumped), also under ``no_grad()``.
    - ``training=False``: mean and var are the moving statistics, left unchanged. This
      is what a frozen Keras BatchNormalization runs (inference mode), and backward has
      no batch reduction: ``dx = dy * gamma / sqrt(moving_variance + epsilon)``.

    ``activation`` (beyond Keras, what a model's BatchNormalization -> ReLU pair runs):
    the result is ``activation(batch_norm(x))``, the same bits as the two ops. In
    training mode it is one op: the activation is applied in the normalizing pass and
    its gradient is read from the output inside the backward's passes (two passes over
    the activation fewer forward, one backward). In inference mode the activation runs
    as its own op after.

    ``recompute_input`` (beyond Keras, what a model's DepthwiseConv2D -> BatchNormalization
    runs in training): when ``x`` is a recorded depthwise convolution's output whose
    node keeps its input and kernel and which is at least half its input's size
    (stride 1), training mode keeps a function that recomputes ``x`` from them in
    backward instead of ``x`` itself: one activation fewer kept for one more (cheap)
    depthwise pass, the same bits. Otherwise ``x`` is kept as usual.

    Freezing: only what the needed gradients use is kept. In inference mode with gamma
    frozen, the op keeps the per-channel scale (C numbers) for dx and nothing else;
    with gamma training it keeps x. In training mode dx and dgamma need x and the batch
    statistics; with only beta training nothing is kept. Torch's running variance is
    unbiased and its momentum is ``1 - momentum``: convert when comparing.

    Args:
        x: input (..., C), at least 2-D.
        gamma: scale (C,) or None (1, Keras ``scale=False``).
        beta: offset (C,) or None (0, Keras ``center=False``).
        moving_mean: (C,) Tensor requiring no gradient.
        moving_variance: (C,) Tensor requiring no gradient.
        training: batch statistics (True) or moving statistics (False).
        momentum: weight of the old moving value, in [0, 1].
        epsilon: added to the variance, >= 0.
        activation: None, "relu", "relu6", "sigmoid" or "tanh".
        recompute_input: recompute a depthwise convolution's output ``x`` in backward
            instead of keeping it, where possible (training mode).

    Returns:
        The normalized tensor, shaped like ``x``.

    Raises:
        ValueError: ``x`` has fewer than 2 axes, a per-channel tensor does not match
            its channels (naming both shapes), a moving statistic requires a gradient,
            epsilon or momentum out of range, an unknown activation.
        TypeError: non-float or mixed float dtypes.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.array([[1.0, 2.0], [3.0, 6.0]]))
    >>> mm, mv = pyfrozen.tensor(np.zeros(2)), pyfrozen.tensor(np.ones(2))
    >>> y = pyfrozen.ops.batch_norm(x, None, None, mm, mv, training=True, epsilon=0.0)
    >>> y.numpy(), mm.numpy()
    (array([[-1., -1.],
           [ 1.,  1.]]), array([0.02, 0.04]))
    """
    op = "batch_norm"
    x = float_operand(x, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dimensions (batch, ..., "
                         f"channels), got shape {x.shape}")
    epsilon, momentum = float(epsilon), float(momentum)
    _check_scalars(epsilon, momentum, op)
    act = activation_name(activation, op)
    mm = _channel_tensor(moving_mean, "moving_mean", x, op, stat=True)
    mv = _channel_tensor(moving_variance, "moving_variance", x, op, stat=True)
    inputs, slots = [x], ["x"]
    for name, t in (("gamma", gamma), ("beta", beta)):
        if t is not None:
            inputs.append(_channel_tensor(t, name, x, op, stat=False))
            slots.append(name)
    if not training:
        y = BatchNormInference.apply(*inputs, slots=tuple(slots), epsilon=epsilon,
                                     running_mean=mm.data, running_var=mv.data)
        return y if act == "none" else activation_ops.POINTWISE[act].apply(y)
    y = BatchNormTraining.apply(*inputs, slots=tuple(slots), epsilon=epsilon,
                                momentum=momentum, running_mean=mm.data,
                                running_var=mv.data, activation=act,
                                recompute=output_recomputer(x) if recompute_input else None)
    mm._bump_version()
    mv._bump_version()
    return y
