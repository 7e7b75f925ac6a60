"""LambdaCallback: a callback made of plain functions."""

from __future__ import annotations

from typing import Any

from pyfrozen.callbacks.callback import Callback


class LambdaCallback(Callback):
    """Calls the given functions at the matching hooks.

    Args:
        on_epoch_begin, on_epoch_end: ``fn(epoch, logs)``.
        on_train_begin, on_train_end: ``fn(logs)``.
        on_train_batch_begin, on_train_batch_end: ``fn(batch, logs)``.
        **kwargs: any other hook by name (``on_test_end=fn``).
    """

    def __init__(self, on_epoch_begin: Any = None, on_epoch_end: Any = None,
                 on_train_begin: Any = None, on_train_end: Any = None,
                 on_train_batch_begin: Any = None, on_train_batch_end: Any = None,
                 **kwargs: Any) -> None:
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not (name.startswith("on_") and hasattr(Callback, name)):
                raise ValueError(f"LambdaCallback: {name!r} is not a callback hook")
            setattr(self, name, fn)
