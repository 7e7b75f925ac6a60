"""Callback: the base class of everything ``fit`` / ``evaluate`` / ``predict`` call back."""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class of callbacks, with Keras 3's hook names.

    Override the hooks you need; ``self.model`` is the model being trained (set
    ``self.model.stop_training = True`` to stop ``fit`` after the current batch or
    epoch) and ``self.params`` holds ``verbose``, ``epochs`` and ``steps``.

    Example:

    >>> import numpy as np, pyfrozen
    >>> class Count(pyfrozen.callbacks.Callback):
    ...     batches = 0
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         self.batches += 1
    >>> model = pyfrozen.Sequential([pyfrozen.Input((2,)), pyfrozen.layers.Dense(1)])
    >>> model.compile("sgd", loss=lambda y, p: ((p - y) ** 2).mean())
    >>> counter = Count()
    >>> _ = model.fit(np.ones((10, 2)), np.ones((10, 1)), batch_size=4, verbose=0,
    ...               callbacks=[counter])
    >>> counter.batches
    3

    Under a data-parallel strategy (``pyfrozen.distributed``) every rank runs the
    callbacks with the logs of all ranks, except those with ``chief_only = True``
    (they write files or print), which run on rank 0 alone.
    """

    chief_only = False

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """A backwards compatibility alias for ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """A backwards compatibility alias for ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of an epoch (``fit`` only)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of an epoch with its metrics (``val_`` ones included)."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch with the metrics so far in the epoch."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each ``evaluate`` (or validation) batch."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each ``evaluate`` (or validation) batch."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each ``predict`` batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each ``predict`` batch."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called at the start of ``fit``."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called at the end of ``fit`` with the last epoch's logs."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Called at the start of ``evaluate`` (or of a validation run)."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """Called at the end of ``evaluate`` (or of a validation run)."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Called at the end of ``predict``."""
