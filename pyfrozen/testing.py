"""check_op: tests a differentiable op in every way the tape promises, in one call.

Shipped with the package so users can test their own ops (Function subclasses) the
way pyfrozen tests its built-in ones. torch is optional and imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.gradcheck import analytic_grads, gradcheck
from pyfrozen.autograd.trace import Trace, trace
from pyfrozen.tensor import Tensor


@dataclass
class OpReport:
    """What :func:`check_op` saw.

    Attributes:
        grads: float64 analytic gradients with every float input requiring grad.
        traces: per tuple of frozen input positions, the trace of one forward and
            backward (``()`` = nothing frozen), for asserting what ran and was saved.
    """

    grads: list[np.ndarray | None]
    traces: dict[tuple[int, ...], Trace] = field(default_factory=dict)


def _tensors(arrays: Sequence[np.ndarray], dtype: Any, trainable: set[int]) -> list[Tensor]:
    out = []
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f":
            out.append(Tensor(a, dtype=dtype, requires_grad=i in trainable))
        else:
            out.append(Tensor(a))
    return out


def check_op(
    fn: Callable[..., Tensor],
    *inputs: Any,
    torch_fn: Callable[..., Any] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    float32_rtol: float = 2e-4,
    seed: int = 0,
) -> OpReport:
    """Checks ``fn`` (Tensors -> Tensor) at the point ``inputs`` in all these ways.

    1. float64 analytic gradients of every float input against central differences.
    2. Each float input frozen in turn: its ``.grad`` stays None, the others' gradients
       are unchanged; with all frozen, nothing is recorded.
    3. float32 on every instruction-set path this CPU has (generic included): forward
       and gradients against float64, relative to the largest float64 magnitude.
    4. With ``torch_fn`` (same signature, on float64 torch tensors): forward and
       gradients against torch's autograd.

    Args:
        fn: the op under test.
        *inputs: numpy arrays; float arrays become differentiable inputs, integer or
            boolean arrays (labels, indices) constant tensors.
        torch_fn: optional reference written with torch.
        eps, atol, rtol: finite-difference step and tolerances (see ``gradcheck``).
        float32_rtol: float32 tolerance relative to the float64 value's scale; raise
            it for ops with long reductions.
        seed: seed of the random cotangent.

    Returns:
        An :class:`OpReport`.

    Raises:
        AssertionError (GradcheckError for gradients) naming the input that failed.
    """
    arrays = [np.asarray(a) for a in inputs]
    diff = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    every = set(diff)
    t64 = _tensors(arrays, np.float64, every)
    gradcheck(fn, t64, eps=eps, atol=atol, rtol=rtol, seed=seed)
    out64 = fn(*t64).data
    v = np.random.default_rng(seed).standard_normal(out64.shape)
    report = OpReport(grads=[])
    with trace() as tr:
        report.grads = analytic_grads(fn, t64, v)
    report.traces[()] = tr
    _check_frozen_combinations(fn, arrays, diff, v, report)
    _check_float32(fn, arrays, every, v, out64, report.grads, float32_rtol)
    if torch_fn is not None:
        _check_torch(fn, torch_fn, arrays, every, v, out64, report.grads)
    return report


def _check_frozen_combinations(fn, arrays, diff, v, report) -> None:
    every = set(diff)
    for i in diff:
        ts = _tensors(arrays, np.float64, every - {i})
        with trace() as tr:
            grads = analytic_grads(fn, ts, v)
        report.traces[(i,)] = tr
        if grads[i] is not None:
            raise AssertionError(f"input {i} is frozen but received a gradient")
        for j in every - {i}:
            np.testing.assert_allclose(
                grads[j], report.grads[j], rtol=1e-10, atol=1e-12,
                err_msg=f"gradient of input {j} changed when input {i} was frozen")
    ts = _tensors(arrays, np.float64, set())
    with trace() as tr:
        out = fn(*ts)
    report.traces[tuple(diff)] = tr
    if out.requires_grad or out.grad_fn is not None or tr.nodes:
        raise AssertionError("with every input frozen the op must record nothing")


def _check_float32(fn, arrays, every, v, out64, grads64, float32_rtol) -> None:
    before = _core.get_isa()
    try:
        for isa in _core.supported_isas():
            _core.set_isa(isa)
            ts = _tensors(arrays, np.float32, every)
            out32 = fn(*ts).data
            _close32(out32, out64, float32_rtol, f"forward on {isa}")
            grads32 = analytic_grads(fn, ts, v)
            for i in every:
                if grads32[i].dtype != np.float32:
                    raise AssertionError(f"{isa}: gradient of input {i} is {grads32[i].dtype}")
                _close32(grads32[i], grads64[i], float32_rtol, f"gradient of input {i} on {isa}")
    finally:
        _core.set_isa(before)


def _close32(got: np.ndarray, want: np.ndarray, rel: float, what: str) -> None:
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-6)
    err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))
    if err > rel * scale:
        raise AssertionError(f"float32 {what}: max error {err:.3g} > {rel:g} x scale {scale:.3g}")


def _check_torch(fn, torch_fn, arrays, every, v, out64, grads64) -> None:
    import torch  # optional oracle

    ts = [torch.tensor(a, requires_grad=(i in every)) for i, a in enumerate(arrays)]
    out = torch_fn(*ts)
    np.testing.assert_allclose(out.detach().numpy(), out64, rtol=1e-9, atol=1e-12,
                               err_msg="forward differs from torch")
    out.backward(torch.tensor(v))
    for i in every:
        np.testing.assert_allclose(grads64[i], ts[i].grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=f"gradient of input {i} differs from torch")


# ---------------------------------------------------------------------------------------
# Layers (Keras's run_layer_test, plus freezing)
# ---------------------------------------------------------------------------------------


@dataclass
class LayerReport:
    """What :func:`check_layer` built: the layer and its eager output."""

    layer: Any
    output: np.ndarray


def check_layer(
    layer_cls: type,
    init_kwargs: dict[str, Any] | None = None,
    input_shape: tuple[int, ...] = (2, 3),
    *,
    input_data: np.ndarray | None = None,
    expected_output_shape: tuple[int, ...] | None = None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    expected_num_params: int | None = None,
    gradcheck_weights: bool = True,
    training: bool | None = None,
    seed: int = 0,
) -> LayerReport:
    """Tests a layer class the way Keras's ``run_layer_test`` does, plus freezing.

    1. ``get_config`` / ``from_config`` round-trips the constructor arguments.
    2. Eager call on data: output shape; weight counts; ``get_weights`` returns copies
       and ``set_weights(get_weights())`` is exact.
    3. Symbolic call on ``pyfrozen.layers.Input``: the output shape agrees (batch None).
    4. float64 data into a float32 layer works (layers cast inputs).
    5. float64 layer: gradients of every trainable weight and of a float input against
       central differences (``gradcheck_weights=False`` skips weights, e.g. huge ones).
    6. ``trainable = False``: no trainable weights, no weight gradients, and the trace
       shows no weight-gradient kernel for the layer.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shape: shape of the test input, batch included.
        input_data: the input (default: seeded random floats of ``input_shape``).
        expected_output_shape: eager output shape to assert.
        expected_num_trainable_weights / expected_num_non_trainable_weights: counts
            of weight tensors; expected_num_params: number of scalars.
        gradcheck_weights: run the float64 gradient check on the weights.
        training: the ``training`` argument for the gradient checks.
        seed: seed of the random input.

    Returns:
        A :class:`LayerReport`.
    """
    from pyfrozen.autograd import trace
    from pyfrozen.layers import Input

    init_kwargs = dict(init_kwargs or {})
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(input_shape) if input_data is None else np.asarray(input_data)

    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    if clone.get_config() != config:
        raise AssertionError(f"config round trip differs: {config} vs {clone.get_config()}")

    out = layer(data, training=training)
    if expected_output_shape is not None and tuple(out.shape) != tuple(expected_output_shape):
        raise AssertionError(f"output shape {out.shape}, expected {expected_output_shape}")
    _check_weight_counts(layer, expected_num_trainable_weights,
                         expected_num_non_trainable_weights, expected_num_params)
    _check_get_set_weights(layer)

    symbolic = layer_cls(**init_kwargs)(Input(input_shape[1:], dtype=data.dtype
                                              if data.dtype.kind in "iu" else None))
    if tuple(symbolic.shape) != (None, *out.shape[1:]):
        raise AssertionError(f"symbolic output shape {symbolic.shape} disagrees with eager "
                             f"{out.shape}")

    _check_layer_gradients(layer_cls, init_kwargs, data, training, gradcheck_weights, seed)

    frozen = layer_cls(**{**init_kwargs, "dtype": "float64"})
    frozen(data)
    frozen.trainable = False
    if frozen.trainable_weights:
        raise AssertionError("a non-trainable layer reports trainable weights")
    x = Tensor(data, requires_grad=data.dtype.kind == "f", dtype=_float_or_int(data))
    with trace() as tr:
        y = frozen(x, training=training)
        if y.requires_grad:
            y.backward(np.ones(y.shape))
    if any(w.grad is not None for w in frozen.weights):
        raise AssertionError("a frozen layer's weight received a gradient")
    if tr.ran(layer=frozen.name, pass_="backward_weight"):
        raise AssertionError(f"weight-gradient kernels ran for a frozen layer: {tr}")
    return LayerReport(layer=layer, output=out.data)


def _float_or_int(data: np.ndarray) -> Any:
    return np.float64 if data.dtype.kind == "f" else None


def _check_weight_counts(layer: Any, n_trainable: int | None, n_non_trainable: int | None,
                         n_params: int | None) -> None:
    if n_trainable is not None and len(layer.trainable_weights) != n_trainable:
        raise AssertionError(f"{len(layer.trainable_weights)} trainable weights, "
                             f"expected {n_trainable}")
    if n_non_trainable is not None and len(layer.non_trainable_weights) != n_non_trainable:
        raise AssertionError(f"{len(layer.non_trainable_weights)} non-trainable weights, "
                             f"expected {n_non_trainable}")
    if n_params is not None and layer.count_params() != n_params:
        raise AssertionError(f"{layer.count_params()} params, expected {n_params}")


def _check_get_set_weights(layer: Any) -> None:
    values = layer.get_weights()
    for v, w in zip(values, layer.weights, strict=True):
        if np.shares_memory(v, w.data):
            raise AssertionError(f"get_weights returned a view of {w.name!r}, not a copy")
    layer.set_weights(values)
    for v, w in zip(values, layer.weights, strict=True):
        if not np.array_equal(v, w.data):
            raise AssertionError(f"set_weights(get_weights()) changed {w.name!r}")


def _check_layer_gradients(layer_cls: type, init_kwargs: dict, data: np.ndarray,
                           training: bool | None, gradcheck_weights: bool, seed: int) -> None:
    layer = layer_cls(**{**init_kwargs, "dtype": "float64"})
    layer(data.astype(np.float32) if data.dtype.kind == "f" else data)  # cast + build
    weights = layer.trainable_weights if gradcheck_weights else []
    x = Tensor(data, requires_grad=data.dtype.kind == "f", dtype=_float_or_int(data))
    tensors = [x, *weights]

    def run(x, *_):
        return layer(x, training=training)

    if any(t.requires_grad for t in tensors):
        states = [w.data.copy() for w in layer.non_trainable_weights]
        gradcheck(run, tensors, seed=seed)
        for w, s in zip(layer.non_trainable_weights, states, strict=True):
            np.copyto(w.data, s)  # undo moving-statistics updates of the extra calls
