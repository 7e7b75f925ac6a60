"""What ``compile(loss=..., metrics=...)`` becomes: one loss and metric list per output.

Keras 3's rules (``keras/src/trainers/compile_utils.py``): a single loss applies to
every output; a list or a dict keyed by output name gives one per output, ``None``
leaving that output untrained; ``loss_weights`` scale each output's loss. With more
than one loss, each output's *unweighted* loss is tracked as ``<output>_loss``; metrics
of a multi-output model are named ``<output>_<metric>``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import losses
from pyfrozen import metrics as metrics_module
from pyfrozen.losses.loss import take_normaliser
from pyfrozen.models.data_adapter import flatten
from pyfrozen.tensor import Tensor


def _object_name(obj: Any) -> str:
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    return str(name) if name else type(obj).__name__.lower()


def _check_loss_identifier(identifier: Any) -> None:
    """Unknown names fail at compile(), not at the first batch."""
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        return  # chosen from the shapes at the first batch, as Keras
    if isinstance(identifier, (str, dict)):
        losses.get(identifier)
    elif not callable(identifier):
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def _resolve_metric(identifier: Any, y_true: Any, y_pred: np.ndarray) -> Any:
    """A stateful metric: Keras 3's ``get_metric`` ("accuracy" chosen from the shapes);
    an object with ``update_state`` / ``result`` / ``reset_state`` is used as it is."""
    if not isinstance(identifier, (str, dict, type)) and hasattr(identifier, "update_state"):
        return identifier
    return metrics_module.resolve(identifier, np.shape(y_true), np.shape(y_pred))


def _per_output(spec: Any, names: list[str], what: str) -> list[Any]:
    """``spec`` spread over the outputs: one value for all, a list, or a dict by name."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"In the dict argument `{what}`, key(s) {unknown} do not correspond "
                             f"to any model output. The outputs are {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)) and n > 1:
        if len(spec) != n:
            raise ValueError(f"For a model with multiple outputs, when providing the `{what}` "
                             "argument as a list, it should have as many entries as the model "
                             f"has outputs. Received: {what} of length {len(spec)} whereas the "
                             f"model has {n} outputs {names}.")
        return list(spec)
    if isinstance(spec, (list, tuple)) and n == 1 and what != "metrics":
        if len(spec) != 1:
            raise ValueError(f"`{what}` has {len(spec)} entries for a model with one output")
        return list(spec)
    return [spec] * n


class CompileLoss:
    """The total loss ``sum(weight_i * loss_i(y_i, pred_i))`` over outputs with a loss."""

    def __init__(self, loss: Any, loss_weights: Any, output_names: list[str]) -> None:
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, float,
                                                                      int)):
            raise ValueError("Expected `loss_weights` argument to be a float (single output "
                             "case) or a list, tuple, or dict (multiple output case). Received "
                             f"instead: loss_weights={loss_weights!r}")
        self.output_names = output_names
        specs = _per_output(loss, output_names, "loss")
        weights = [None] * len(output_names) if loss_weights is None else (
            [loss_weights] * len(output_names) if isinstance(loss_weights, (int, float))
            else _per_output(loss_weights, output_names, "loss_weights"))
        self.entries: list[tuple[int, str, Any, Any]] = []
        for i, (spec, weight) in enumerate(zip(specs, weights, strict=True)):
            if spec is not None:
                _check_loss_identifier(spec)
                self.entries.append((i, output_names[i], spec, weight))
        if not self.entries:
            raise ValueError("compile(): every output's loss is None: nothing would train")
        self.built = False
        self.metrics = [metrics_module.Mean(name=f"{name}_loss")
                        for _, name, _, _ in self.entries] if len(self.entries) > 1 else []
        self.last_values: list[tuple[str, float, tuple, tuple]] = []
        # Per output with a loss, at the last call: (value, loss weight, kind, divisor),
        # kind "sum" or "mean" over divisor (losses.take_normaliser); a data-parallel
        # step weights each rank's terms by them. track=False: the per-output trackers
        # are updated by the caller (with the values over every rank).
        self.terms: list[tuple[Tensor, float, str, float]] = []
        self.track = True

    def build(self, y_true: list[Any], y_pred: list[Tensor]) -> None:
        """Resolves each loss (``losses.resolve``: "crossentropy" needs the shapes)."""
        self.entries = [(i, name, losses.resolve(spec, np.shape(y_true[i]), tuple(y_pred[i].shape))
                         if y_true[i] is not None else spec, weight)
                        for i, name, spec, weight in self.entries]
        self.built = True

    def __call__(self, y_true: list[Any], y_pred: list[Tensor], sample_weight: Any) -> Tensor:
        if not self.built:
            self.build(y_true, y_pred)
        total = None
        self.last_values, self.terms = [], []
        weights = flatten(sample_weight) if isinstance(sample_weight, (list, tuple)) else None
        for k, (i, name, fn, weight) in enumerate(self.entries):
            sw = sample_weight if weights is None else weights[i]
            value, kind, divisor = _call_loss(fn, y_true[i], y_pred[i], sw, name)
            self.terms.append((value, 1.0 if weight is None else float(weight), kind, divisor))
            self.last_values.append((name, float(value.data), tuple(y_pred[i].shape),
                                     tuple(np.shape(y_true[i]))))
            if self.metrics and self.track:
                self.metrics[k].update_state(float(value.data),
                                             sample_weight=len(y_pred[i].data))
            if weight is not None:
                value = value * float(weight)
            total = value if total is None else total + value
        return total


def _call_loss(fn: Any, y_true: Any, y_pred: Tensor, sample_weight: Any, output: str
               ) -> tuple[Tensor, str, float]:
    """``fn(y_true, y_pred, sample_weight)`` as a scalar Tensor, with what it divided by
    (``losses.take_normaliser``; a callable that reports nothing: a mean over the rows);
    a failure names the output and both shapes."""
    if y_true is None:
        raise ValueError(f"output {output!r} has a loss but no targets were given for it "
                         "(pass y for every output that has a loss)")
    y_true = np.asarray(y_true)
    if y_true.dtype.kind == "f" and y_true.dtype != y_pred.dtype:
        y_true = y_true.astype(y_pred.dtype)  # Keras casts float targets to the output dtype
    shapes = f"(predictions {tuple(y_pred.shape)}, targets {tuple(y_true.shape)})"
    if y_true.ndim == 0 or len(y_true) != len(y_pred.data):
        raise ValueError(f"output {output!r}: targets and predictions have different batch "
                         f"sizes {shapes}")
    take_normaliser()
    try:
        value = fn(y_true, y_pred, sample_weight=sample_weight) if sample_weight is not None \
            else fn(y_true, y_pred)
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(f"loss {_object_name(fn)!r} of output {output!r} does not fit the "
                         f"output {shapes}: {err}") from err
    if not isinstance(value, Tensor):
        value = Tensor(np.asarray(value, dtype=y_pred.dtype))
    kind, divisor = take_normaliser() or ("mean", float(len(y_pred.data)))
    if value.size != 1:
        kind, divisor = "mean", float(value.size)
        value = value.mean()  # a per-sample loss function: Keras reduces it by the mean
    return (value.reshape(()) if value.ndim else value), kind, divisor


class CompileMetrics:
    """``metrics=`` / ``weighted_metrics=`` per output, built on the first batch (the
    choice behind "accuracy" needs the targets' and outputs' shapes)."""

    def __init__(self, metrics: Any, weighted_metrics: Any, output_names: list[str]) -> None:
        for what, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"Expected `{what}` argument to be a list, tuple, or dict. "
                                 f"Received instead: {what}={value!r} of type "
                                 f"{type(value).__name__}")
        self.name = "compile_metrics"
        self.output_names = output_names
        self._user = (metrics, weighted_metrics)
        self.built = False
        self._flat: list[tuple[int, bool, Any]] = []  # (output, weighted, metric)

    def build(self, y_true: list[Any], y_pred: list[np.ndarray]) -> None:
        names = self.output_names
        for weighted, spec in zip((False, True), self._user, strict=True):
            if not spec:
                continue
            per_output = _per_output(spec, names, "metrics") if len(names) > 1 or isinstance(
                spec, dict) else [spec]
            for i, entry in enumerate(per_output):
                items = entry if isinstance(entry, (list, tuple)) else [entry]
                for item in items:
                    if item is not None:
                        metric = _resolve_metric(item, y_true[i], y_pred[i])
                        self._flat.append((i, weighted, metric))
        self.built = True

    @property
    def metrics(self) -> list[Any]:
        return [m for _, _, m in self._flat]

    def update_state(self, y_true: list[Any], y_pred: list[np.ndarray], sample_weight: Any
                     ) -> None:
        if not self.built:
            self.build(y_true, y_pred)
        weights = flatten(sample_weight) if isinstance(sample_weight, (list, tuple)) else None
        for i, weighted, metric in self._flat:
            if y_true[i] is None:
                continue
            sw = None
            if weighted:
                sw = sample_weight if weights is None else weights[i]
            metric.update_state(y_true[i], y_pred[i], sample_weight=sw)

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict[str, float]:
        """``{name: value}``: output-prefixed for several outputs, duplicates numbered."""
        out: dict[str, float] = {}
        if not self.built:
            return out
        counts: dict[str, int] = {}
        for i, weighted, metric in self._flat:
            name = metric.name
            if len(self.output_names) > 1:
                name = f"{self.output_names[i]}_{name}"
            if name in counts:
                counts[name] += 1
                name = f"weighted_{name}" if weighted else f"{name}_{counts[name] - 1}"
            else:
                counts[name] = 1
            out[name] = float(metric.result())
        return out
