"""Trainer: Keras 3's ``compile`` / ``train_step`` / ``test_step`` / ``*_on_batch``, mixed
into Model. The epoch loops of ``fit`` / ``evaluate`` / ``predict`` are in ``loops.py``.

Freezing takes effect at once: every step trains the weights that are trainable *now*
(``model.trainable_weights``), so ``layer.trainable = True`` after ``compile`` applies
at the next step without recompiling (Keras and tfjs keep the set from ``compile()``).
A one-time warning says so when the set differs from the one at ``compile()``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from pyfrozen import metrics as metrics_module
from pyfrozen import optimizers
from pyfrozen.autograd import is_grad_enabled, no_grad
from pyfrozen.models import distribution, loops, trainer_distribution
from pyfrozen.models.compile_utils import CompileLoss, CompileMetrics
from pyfrozen.models.data_adapter import (
    class_weight_to_sample_weights,
    flatten,
    unpack_x_y_sample_weight,
)
from pyfrozen.models.feature_cache import CachedRows
from pyfrozen.models.trainer_metrics import TrainerMetrics
from pyfrozen.tensor import Tensor


class Trainer(TrainerMetrics):
    """The training half of Model (a mixin: Model inherits it before Layer)."""

    compiled = False
    optimizer: Any = None
    loss: Any = None
    stop_training = False
    history: Any = None
    _compile_loss: CompileLoss | None = None
    _compile_metrics: CompileMetrics | None = None
    _loss_tracker: Any = None
    _compile_spec: tuple[Any, Any] | None = None
    _compile_built = False
    _distribution: Any = None

    # --- compile -----------------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Configures the model for training (Keras 3's arguments).

        Args:
            optimizer: name (``"adam"``) or optimizer instance; a new instance starts
                with fresh state, the same instance keeps its state.
            loss: name, ``pyfrozen.losses`` object or callable ``(y_true, y_pred)``; a
                list or a dict keyed by output name for several outputs (``None``
                leaves that output untrained).
            loss_weights: float, list or dict: the total loss is the weighted sum.
            metrics: list (or per-output list / dict) of names, metric objects or
                functions; "accuracy" picks binary / categorical / sparse as Keras 3.
            weighted_metrics: metrics weighted by ``sample_weight`` / ``class_weight``.
            run_eagerly, jit_compile, auto_scale_loss: accepted; pyfrozen always runs
                eagerly.
            steps_per_execution: must be 1.

        Unlike Keras, the trainable weights are not fixed here: see the module notes.
        """
        if steps_per_execution != 1:
            raise NotImplementedError("steps_per_execution != 1 is not supported by pyfrozen "
                                      f"(received {steps_per_execution})")
        self.optimizer = optimizers.get(optimizer)
        self._distribution = distribution.current()  # pyfrozen.distributed's scope()
        self.loss = loss
        self._compile_spec = (loss, loss_weights, metrics, weighted_metrics)
        self._compile_loss = self._compile_metrics = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.run_eagerly = run_eagerly
        self.jit_compile = jit_compile
        self.stop_training = False
        self.compiled = True
        self._compiled_trainable: frozenset[int] | None = None
        self._compile_built = False
        self._warned: set[str] = set()
        self._lr_resolved = False
        self._nonfinite: str | None = None
        if self.built:  # else at the first step, once the model knows its outputs
            self._build_compile(self._output_names(None))

    def _build_compile(self, output_names: list[str]) -> None:
        loss, loss_weights, metrics, weighted = self._compile_spec
        if loss is not None:
            self._compile_loss = CompileLoss(loss, loss_weights, output_names)
        if metrics is not None or weighted is not None:
            self._compile_metrics = CompileMetrics(metrics, weighted, output_names)
        self._compiled_trainable = frozenset(map(id, self.trainable_weights))
        self._resolve_lr_multipliers()
        self._compile_built = True

    def _resolve_lr_multipliers(self) -> None:
        if getattr(self.optimizer, "lr_multipliers", None) is not None:
            self.optimizer.resolve_lr_multipliers(self)
        self._lr_resolved = True

    def _output_names(self, y_pred: list[Any] | None) -> list[str]:
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return [t.node.layer.name if t.node is not None else (t.name or f"output_{i}")
                    for i, t in enumerate(graph.outputs)]
        n = 1 if y_pred is None else len(y_pred)
        return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]

    def _assert_compile_called(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before calling `{method}()` "
                             f"(model {self.name!r} has no optimizer and loss yet)")

    # --- one step ------------------------------------------------------------------------

    def _model_inputs(self, x: Any) -> Any:
        graph = getattr(self, "_graph", None)
        if isinstance(x, dict) and graph is not None:
            names = [t.name for t in graph.inputs]
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"model {self.name!r}: inputs {missing} are missing from the "
                                 f"dict of inputs (keys {sorted(x)})")
            values = [x[n] for n in names]
            return values if len(values) > 1 or graph.input_is_list else values[0]
        return x

    def _targets(self, y: Any, names: list[str]) -> list[Any]:
        if isinstance(y, dict):
            unknown = [k for k in y if k not in names]
            if unknown:
                raise ValueError(f"targets {unknown} match no output of model {self.name!r} "
                                 f"(outputs {names})")
            return [y.get(n) for n in names]
        if isinstance(y, (list, tuple)) and len(names) > 1:
            if len(y) != len(names):
                raise ValueError(f"model {self.name!r} has {len(names)} outputs {names} but "
                                 f"{len(y)} targets were given")
            return list(y)
        if isinstance(y, (list, tuple)) and len(y) == 1 and not np.isscalar(y[0]):
            return [y[0]]
        return [y]

    def _forward(self, x: Any, training: bool) -> tuple[Any, list[Tensor], list[str]]:
        if isinstance(x, CachedRows):  # fit(cache_frozen_features=True)
            y_pred = x.forward(training)
        else:
            inputs = self._model_inputs(x)
            if is_grad_enabled():
                # Cast as the model casts its inputs, but without recording: a caller's
                # array then stays unshared (to_tensor copies it while recording, since
                # the caller could change it before backward). Forward and backward both
                # run inside this step, while the caller's data must stay as it is anyway
                # (as in Keras): the copy was 3.5 MB a step for MobileNet at 96x96, batch
                # 32. Not recording (evaluate), the model's own cast copies nothing.
                with no_grad():
                    inputs = self._cast_input(inputs)
            y_pred = self(inputs, training=training)
        preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        names = self._output_names(preds)
        if self.compiled and not self._compile_built:
            self._build_compile(names)
        return y_pred, preds, names

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Tensor:
        """The total loss of ``y_pred`` against ``y`` (override for a custom loss).

        Raises:
            ValueError: no loss was given to ``compile``, or a loss does not fit its
                output (the message names the output and both shapes).
        """
        if self._compile_loss is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        return self._compile_loss(self._targets(y, self._compile_loss.output_names), preds,
                                  sample_weight)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
                        ) -> dict[str, float]:
        """Updates the compiled metrics; returns ``get_metrics_result()``."""
        if self._compile_metrics is not None:
            preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
            arrays = [p.data if isinstance(p, Tensor) else np.asarray(p) for p in preds]
            targets = self._targets(y, self._compile_metrics.output_names)
            self._compile_metrics.update_state(targets, arrays, sample_weight)
        return self.get_metrics_result()

    def _step_weights(self, every: list[Any]) -> list[Any]:
        """The weights trainable now; warns once if they differ from those at compile()."""
        # What ``self.trainable_weights`` returns, from the list already walked.
        weights = [w for w in every if w.trainable and w.requires_grad] if self.trainable else []
        ids = frozenset(map(id, weights))
        if self._compiled_trainable is None:
            self._compiled_trainable = ids
        elif ids != self._compiled_trainable and "changed" not in self._warned:
            self._warned.add("changed")
            warnings.warn(
                f"model {self.name!r}: the trainable weights changed since compile() "
                f"({len(self._compiled_trainable)} -> {len(ids)} weights). pyfrozen trains "
                "the weights that are trainable now, from this step on, without recompiling "
                "(Keras would keep the set from compile() until compile() is called again).",
                stacklevel=4)
        if not weights and "none" not in self._warned:
            self._warned.add("none")
            warnings.warn(f"The model does not have any trainable weights (model "
                          f"{self.name!r}): the step computes the loss and updates nothing.",
                          stacklevel=4)
        return weights

    def train_step(self, data: Any) -> dict[str, float]:
        """One gradient step on a batch ``x`` / ``(x, y)`` / ``(x, y, sample_weight)``.

        Every weight's gradient is zeroed before backward; ``optimizer.apply`` gets the
        weights that are trainable now. A step whose loss is not finite updates nothing
        (``fit`` then raises, unless a callback such as TerminateOnNaN stops training).

        Returns:
            The metrics so far in the epoch (``{"loss": ..., ...}``).
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        dist = distribution.of(self)
        if dist is not None:  # rank 0's weights everywhere (built first if need be)
            trainer_distribution.prepare(self, dist, x)
        built = self.built
        every, states = self._weights_and_states() if built else ([], [])
        # BatchNormalization moves its statistics during the forward pass: keep them, so a
        # non-finite batch leaves every weight as it was (a few KB even for MobileNet).
        saved = [(p, p.data.copy()) for p in states]
        y_pred, _, _ = self._forward(x, training=True)
        if not built:  # layers built lazily by this first call
            every, _ = self._weights_and_states()
        for w in every:  # zeroed before backward, where gradients accumulate (Keras's order)
            w.grad = None
        if not self._lr_resolved:
            self._resolve_lr_multipliers()
        weights = self._step_weights(every)
        own_loss = type(self).compute_loss is Trainer.compute_loss
        compiled = self._compile_loss if dist is not None and own_loss else None
        if compiled is not None:
            compiled.track = False  # tracked with the global values, after agreeing
        try:
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
        finally:
            if compiled is not None:
                compiled.track = True
        value = float(np.asarray(loss.data))
        finite = math.isfinite(value)
        if dist is not None:  # every rank steps, or none does; each its share of the loss
            finite, loss = trainer_distribution.agree_on_loss(
                self, dist, loss, value, _batch_size(x), weights, own_loss)
        else:
            self._loss_tracker.update_state(value, sample_weight=_batch_size(x))
        if not finite:
            self._nonfinite = self._nonfinite_message(value, x) if not math.isfinite(value) \
                else (f"model {self.name!r}: another rank's loss is not finite (this rank's is "
                      f"{value}); every rank left its weights as they were before this batch.")
            with no_grad():
                for p, array in saved:
                    np.copyto(p.data, array)
                    p._bump_version()
        elif weights:
            loss = self.optimizer.scale_loss(loss)
            if dist is not None:  # backward, gradients averaged over the ranks
                grads = dist.backward(loss, weights)
            else:
                if loss.requires_grad:
                    loss.backward()
                grads = [w.grad for w in weights]
            self.optimizer.apply(grads, weights)
        with no_grad():
            return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict[str, float]:
        """The loss and metrics of one batch in inference mode (no tape)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        dist = distribution.of(self)
        if dist is not None and not self.built:  # evaluate before fit: rank 0's weights
            trainer_distribution.prepare(self, dist, x)
        with no_grad():
            y_pred, _, _ = self._forward(x, training=False)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
            self._loss_tracker.update_state(float(np.asarray(loss.data)),
                                            sample_weight=_batch_size(x))
            return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        """The model's output(s) for one batch, inference mode, tape-free."""
        x, _, _ = unpack_x_y_sample_weight(data)
        with no_grad():
            return self(self._model_inputs(x), training=False)

    def _nonfinite_message(self, value: float, x: Any) -> str:
        parts = [f"output {name!r}: loss {v} (predictions {ps}, targets {ts})"
                 for name, v, ps, ts in self._compile_loss.last_values] if (
            self._compile_loss is not None) else []
        if isinstance(x, CachedRows):
            x = x.raw_inputs()
        bad = [(np.shape(a), int(np.size(a) - np.isfinite(a).sum())) for a in flatten(x)
               if a is not None and np.asarray(a).dtype.kind == "f"]
        data = [f"{n} of the input values of shape {s} are NaN or infinite" for s, n in bad if n]
        cause = "; ".join(data) if data else "the inputs are finite: the weights or the " \
            "learning rate diverged"
        return (f"model {self.name!r}: the loss is {value} ({'; '.join(parts)}); {cause}. "
                "The weights were left as they were before this batch. Pass "
                "callbacks=[pyfrozen.callbacks.TerminateOnNaN()] to stop training quietly.")

    def _raise_if_nonfinite(self, where: str) -> None:
        message, self._nonfinite = self._nonfinite, None
        if message is not None and not self.stop_training:
            raise FloatingPointError(f"{where}: {message}")

    # --- single batches ------------------------------------------------------------------

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict[int, float] | None = None, return_dict: bool = False
                       ) -> Any:
        """One gradient step on one batch; returns the loss (and metrics) as Keras.

        Raises:
            FloatingPointError: the loss is not finite (nothing was updated).
        """
        self._assert_compile_called("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("Arguments `sample_weight` and `class_weight` cannot be "
                                 "specified at the same time.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        self.reset_metrics()
        logs = loops.pythonify_logs(self.train_step((x, y, sample_weight)))
        self._raise_if_nonfinite("train_on_batch")
        return logs if return_dict else loops.flatten_metrics_in_order(self, logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        """The loss (and metrics) of one batch in inference mode."""
        self._assert_compile_called("test_on_batch")
        self.reset_metrics()
        logs = loops.pythonify_logs(self.test_step((x, y, sample_weight)))
        return logs if return_dict else loops.flatten_metrics_in_order(self, logs)

    def predict_on_batch(self, x: Any) -> Any:
        """The output(s) for one batch as numpy arrays."""
        out = self.predict_step((x,))
        if isinstance(out, (list, tuple)):
            return [t.data for t in out]
        return out.data

    # --- the loops (pyfrozen.models.loops) -------------------------------------------------

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool | str = True,
            class_weight: dict[int, float] | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, cache_frozen_features: bool = False) -> Any:
        """Trains for ``epochs`` epochs; returns the ``History`` (Keras 3's arguments).

        Args:
            x, y: arrays (lists / dicts for several inputs / outputs), or ``x`` a
                Sequence or iterable of ``(x, y[, sample_weight])`` batches.
            batch_size: samples per step for arrays (default 32).
            epochs: index of the last epoch (with ``initial_epoch``).
            verbose: "auto"/1 progress bar, 2 one line per epoch, 0 silent.
            callbacks: ``pyfrozen.callbacks`` instances.
            validation_split: last fraction of the arrays held out for validation.
            validation_data: ``(x_val, y_val[, sample_weight])`` or batches.
            shuffle: reshuffle arrays every epoch (``"batch"``: within chunks).
            class_weight: ``{class: weight}`` turned into sample weights.
            sample_weight: per-sample loss weights.
            initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
            validation_freq: as Keras.
            cache_frozen_features: (pyfrozen) compute the outputs of the frozen layers
                at the bottom of the model once per sample and train the layers above
                on them every epoch (NumPy arrays only; see
                pyfrozen.models.feature_cache). Freezing changes during fit are seen
                and the cache recomputed. Without it the frozen layers still run
                tape-free (nothing recorded or saved), but every step.

        Returns:
            A ``History``: ``history.history["loss"]``, ``["val_loss"]``, metrics...

        Raises:
            ValueError: ``compile`` was not called, or data and model do not fit; with
                ``cache_frozen_features``: no frozen layers at the bottom, a random layer
                below frozen ones, data that is not arrays, or an overridden
                ``train_step`` / ``test_step`` (they would receive cached rows).
            FloatingPointError: a non-finite loss (unless a callback stops training).
        """
        if cache_frozen_features:
            overridden = [name for name in ("train_step", "test_step")
                          if getattr(type(self), name) is not getattr(Trainer, name)]
            if overridden:
                raise ValueError(f"fit(cache_frozen_features=True): {type(self).__name__} "
                                 f"overrides {' and '.join(overridden)}, which would receive "
                                 "cached rows instead of inputs; fit without the cache")
        return loops.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                         validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                         steps_per_epoch, validation_steps, validation_batch_size,
                         validation_freq, cache_frozen_features)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Any = None, return_dict: bool = False, **kwargs: Any) -> Any:
        """Loss and metrics in inference mode: a scalar (loss only), a list in Keras's
        order (loss, metrics, per-output losses), or a dict with ``return_dict``."""
        return loops.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks,
                              return_dict, **kwargs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: Any = None) -> Any:
        """Outputs for ``x`` as numpy arrays, in batches, in inference mode, tape-free.

        Args:
            x: an array (or a list of arrays for several inputs), batch first; or a
                Sequence / iterable of batches.
            batch_size: samples per forward pass for arrays (default 32).
            verbose: 1 shows a progress bar ("auto" is silent in pyfrozen).
            steps: stop after this many batches.
            callbacks: callbacks with ``on_predict_*`` hooks.

        Returns:
            An array, or a list of arrays for several outputs.
        """
        return loops.predict(self, x, batch_size, verbose, steps, callbacks)




def _batch_size(x: Any) -> int:
    leaves = [leaf for leaf in flatten(x) if leaf is not None]
    return len(leaves[0]) if leaves else 1
