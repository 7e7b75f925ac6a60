"""CallbackList: calls every callback's hook at once (and adds History / ProgbarLogger)."""

from __future__ import annotations

from typing import Any

from pyfrozen.callbacks.callback import Callback
from pyfrozen.callbacks.history import History
from pyfrozen.callbacks.progbar_logger import ProgbarLogger


def _pythonify(logs: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


class CallbackList(Callback):
    """A list of callbacks behind one set of hooks (Keras 3's container).

    Args:
        callbacks: Callback instances.
        add_history: add a ``History`` unless one is in the list.
        add_progbar: add a ``ProgbarLogger`` unless one is in the list.
        model: the model the callbacks see as ``self.model``.
        **params: passed to every callback's ``set_params`` (``verbose``, ``epochs``,
            ``steps``).
    """

    def __init__(self, callbacks: Any = None, add_history: bool = False,
                 add_progbar: bool = False, model: Any = None, **params: Any) -> None:
        super().__init__()
        self.callbacks: list[Callback] = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be pyfrozen.callbacks.Callback instances; "
                                f"received {cb!r} of type {type(cb).__name__}")
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_batch_begin", batch, logs or {})

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_batch_end", batch, _pythonify(logs))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_end", epoch, logs if logs is not None else {})

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs or {})

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_end", batch, _pythonify(logs))

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs or {})

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_end", batch, _pythonify(logs))

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs or {})

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs or {})

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._call("on_train_begin", logs or {})

    def on_train_end(self, logs: dict | None = None) -> None:
        self._call("on_train_end", logs or {})

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._call("on_test_begin", logs or {})

    def on_test_end(self, logs: dict | None = None) -> None:
        self._call("on_test_end", logs or {})

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._call("on_predict_begin", logs or {})

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._call("on_predict_end", logs or {})
