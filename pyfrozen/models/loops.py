"""The epoch loops behind ``Model.fit`` / ``evaluate`` / ``predict`` (Keras 3's order of
callbacks, validation and logs; see ``keras/src/backend/torch/trainer.py``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pyfrozen.autograd import no_grad
from pyfrozen.callbacks import CallbackList
from pyfrozen.models import distribution
from pyfrozen.models.data_adapter import (
    EpochIterator,
    is_array_data,
    train_validation_split,
    unpack_x_y_sample_weight,
)
from pyfrozen.models.feature_cache import FeatureCache


def _check_epochs(epochs: Any, initial_epoch: Any) -> None:
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")


def _check_verbose(verbose: Any) -> None:
    if verbose not in ("auto", 0, 1, 2):
        raise ValueError(f'`verbose` must be "auto", 0, 1 or 2. Received: verbose={verbose!r}')


def fit(model: Any, x: Any, y: Any, batch_size: Any, epochs: int, verbose: Any,
        callbacks: Any, validation_split: float, validation_data: Any, shuffle: Any,
        class_weight: Any, sample_weight: Any, initial_epoch: int, steps_per_epoch: Any,
        validation_steps: Any, validation_batch_size: Any, validation_freq: Any,
        cache_frozen_features: bool = False) -> Any:
    """``Model.fit`` (see its docstring)."""
    model._assert_compile_called("fit")
    _check_epochs(epochs, initial_epoch)
    _check_verbose(verbose)
    dist = distribution.of(model)
    verbose, callbacks = _on_this_rank(dist, verbose, callbacks)
    if validation_split and validation_data is None:
        if not is_array_data(x):
            raise ValueError("`validation_split` is only supported for NumPy arrays (or lists "
                             f"/ dicts of them); x is a {type(x).__name__}. Pass "
                             "validation_data instead.")
        (x, y, sample_weight), validation_data = train_validation_split(
            (x, y, sample_weight), validation_split)
    if dist is not None and model.built:  # rank 0's weights before any feature is cached
        dist.prepare(model)
    cache = _feature_cache(model, x, batch_size, True) if cache_frozen_features else None
    iterator = EpochIterator(x if cache is None else np.arange(cache.size), y, sample_weight,
                             batch_size, steps_per_epoch, shuffle, class_weight)
    _shard(iterator, dist)
    batches = iterator if cache is None else cache.batches(iterator)
    val_iterator = None
    if validation_data is not None:
        val_x, val_y, val_sw = unpack_x_y_sample_weight(validation_data)
        val_batch = validation_batch_size or (batch_size if is_array_data(val_x) else None)
        val_cache = _feature_cache(model, val_x, val_batch, False) if (
            cache is not None and is_array_data(val_x)) else None
        val_iterator = EpochIterator(val_x if val_cache is None else np.arange(val_cache.size),
                                     val_y, val_sw, val_batch, validation_steps, shuffle=False)
        _shard(val_iterator, dist)
        if val_cache is not None:
            val_iterator = val_cache.batches(val_iterator)
    cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
        epochs=epochs, steps=iterator.num_batches)
    model.stop_training = False
    cbs.on_train_begin()
    training_logs: dict[str, Any] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        if dist is not None:
            dist.on_epoch_begin()
        cbs.on_epoch_begin(epoch)
        logs: dict[str, Any] = {}
        steps = 0
        for step, batch in batches:
            cbs.on_train_batch_begin(step)
            logs = model.train_step(batch)
            cbs.on_train_batch_end(step, logs)
            model._raise_if_nonfinite(f"fit (epoch {epoch + 1}, batch {step + 1})")
            steps += 1
            if dist is not None:  # one rank's callback stops every rank
                model.stop_training = dist.any_rank(model.stop_training)
            if model.stop_training:
                break
        if steps == 0:
            warnings.warn("Your input ran out of data; interrupting training. Make sure that "
                          "your dataset or generator can generate at least `steps_per_epoch * "
                          "epochs` batches.", stacklevel=3)
            break
        epoch_logs = pythonify_logs(_metrics_or_logs(model, logs))
        if dist is not None:
            dist.on_epoch_end(model)
        if val_iterator is not None and _should_eval(epoch, validation_freq):
            val_logs = evaluate(model, None, None, None, verbose, None, None, cbs, True,
                                _iterator=val_iterator)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if dist is not None:
            model.stop_training = dist.any_rank(model.stop_training)
        if model.stop_training:
            break
    cbs.on_train_end(logs=training_logs)
    return model.history


def _on_this_rank(dist: Any, verbose: Any, callbacks: Any) -> tuple[Any, Any]:
    """Under a strategy, ranks other than rank 0 print nothing and leave out the
    callbacks that write (``chief_only``: checkpoints, CSV logs, progress bars)."""
    if dist is None or dist.is_chief:
        return verbose, callbacks
    if isinstance(callbacks, CallbackList):
        callbacks = callbacks.callbacks
    return 0, [cb for cb in callbacks or [] if not getattr(cb, "chief_only", False)]


def _shard(iterator: Any, dist: Any) -> None:
    """Each rank takes its rows of every global batch of arrays (see distribution.py);
    Sequences and iterables are used as given: shard them by rank yourself."""
    if dist is not None and hasattr(iterator.adapter, "shard"):
        iterator.adapter.shard = dist.shard


def _feature_cache(model: Any, x: Any, batch_size: Any, training: bool) -> FeatureCache:
    if not is_array_data(x):
        raise ValueError("fit(cache_frozen_features=True) keeps the frozen layers' outputs per "
                         f"sample of NumPy arrays; x is a {type(x).__name__}. Pass arrays, or "
                         "fit without cache_frozen_features.")
    return FeatureCache(model, x, batch_size or 32, training)


def _should_eval(epoch: int, freq: Any) -> bool:
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    if isinstance(freq, (list, tuple)):
        return epoch + 1 in freq
    raise ValueError(f"Expected `validation_freq` to be a list or int. Received: "
                     f"validation_freq={freq} of the type {type(freq)}.")


def _metrics_or_logs(model: Any, logs: dict[str, Any]) -> dict[str, Any]:
    """The model's metrics when a custom train_step returned the same keys, else its logs."""
    metrics = model.get_metrics_result()
    return metrics if isinstance(logs, dict) and set(logs) == set(metrics) else logs


def evaluate(model: Any, x: Any, y: Any, batch_size: Any, verbose: Any, sample_weight: Any,
             steps: Any, callbacks: Any, return_dict: bool, **kwargs: Any) -> Any:
    """``Model.evaluate`` (see its docstring)."""
    iterator = kwargs.pop("_iterator", None)
    if kwargs:
        raise ValueError(f"Arguments not recognized: {kwargs}")
    model._assert_compile_called("evaluate")
    _check_verbose(verbose)
    dist = distribution.of(model)
    if iterator is None:
        verbose, callbacks = _on_this_rank(dist, verbose, callbacks)
        iterator = EpochIterator(x, y, sample_weight, batch_size, steps, shuffle=False)
        _shard(iterator, dist)
        if dist is not None and model.built:
            dist.prepare(model)
    cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=1,
        steps=iterator.num_batches)
    model.stop_evaluating = False
    cbs.on_test_begin()
    model.reset_metrics()
    logs: dict[str, Any] = {}
    for step, batch in iterator:
        cbs.on_test_batch_begin(step)
        logs = model.test_step(batch)
        cbs.on_test_batch_end(step, logs)
        if model.stop_evaluating:
            break
    logs = pythonify_logs(_metrics_or_logs(model, logs))
    cbs.on_test_end(logs)
    return logs if return_dict else flatten_metrics_in_order(model, logs)


def pythonify_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """Floats where possible, keys sorted (Keras 3: History and evaluate's dict list
    "accuracy" before "loss", then the ``val_`` keys)."""
    out: dict[str, Any] = {}
    for key, value in sorted(logs.items()):
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def flatten_metrics_in_order(model: Any, logs: dict[str, Any]) -> Any:
    """Keras's list order: the names of ``model.metrics`` (compiled metrics by their own
    names), then the remaining keys sorted; a single value is returned bare."""
    names: list[str] = []
    for metric in model.metrics:
        sub = getattr(metric, "metrics", None)
        names += [m.name for m in sub] if sub is not None else [metric.name]
    results = [logs[n] for n in names if n in logs]
    results += [logs[k] for k in sorted(logs) if k not in names]
    return results[0] if len(results) == 1 else results


def predict(model: Any, x: Any, batch_size: Any, verbose: Any, steps: Any,
            callbacks: Any) -> Any:
    """``Model.predict`` (see its docstring)."""
    _check_verbose(verbose)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    if isinstance(x, dict):
        x = model._model_inputs(x)
    x = model._data_structure(x) if is_array_data(x) else x
    iterator = EpochIterator(x, batch_size=batch_size, steps_per_epoch=steps, shuffle=False) \
        if not is_array_data(x) else _ArrayBatches(model, x, batch_size or 32, steps)
    show = verbose == 1  # "auto" stays silent: predict is called in loops and examples
    cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, add_progbar=show, model=model, verbose=verbose, epochs=1,
        steps=iterator.num_batches)
    cbs.on_predict_begin()
    chunks: list[list[np.ndarray]] = []
    output_is_list = False
    with no_grad():
        for step, batch in iterator:
            cbs.on_predict_batch_begin(step)
            out = model.predict_step(batch)
            output_is_list = isinstance(out, (list, tuple))
            arrays = [t.data for t in out] if output_is_list else [out.data]
            chunks.append(arrays)
            cbs.on_predict_batch_end(step, {"outputs": arrays if output_is_list else arrays[0]})
    cbs.on_predict_end()
    if not chunks:
        raise ValueError("predict: the input yielded no batch")
    merged = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    graph = getattr(model, "_graph", None)
    if graph is not None:
        output_is_list = graph.output_is_list
    return merged if output_is_list else merged[0]


class _ArrayBatches:
    """Arrays in order, one ``(x,)`` batch at a time (an empty x gives one empty batch,
    so the output keeps its shape)."""

    def __init__(self, model: Any, x: Any, batch_size: int, steps: int | None) -> None:
        values = list(x) if isinstance(x, (list, tuple)) else [x]
        n = len(values[0])
        if any(len(v) != n for v in values):
            raise ValueError(f"predict: inputs have different batch sizes "
                             f"{[len(v) for v in values]}")
        self.x, self.values, self.n, self.batch_size = x, values, n, batch_size
        batches = max(1, -(-n // batch_size))
        self.num_batches = batches if steps is None else min(steps, batches)

    def __iter__(self) -> Any:
        for step in range(self.num_batches):
            start = step * self.batch_size
            batch = [v[start:start + self.batch_size] for v in self.values]
            yield step, ((batch if isinstance(self.x, (list, tuple)) else batch[0]),)
