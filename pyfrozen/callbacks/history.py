"""History: the per-epoch logs that ``fit`` returns."""

from __future__ import annotations

from typing import Any

from pyfrozen.callbacks.callback import Callback


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]``, ``["val_loss"]``, ...

    ``fit`` adds one automatically and returns it (also ``model.history``).
    ``history.epoch`` lists the epoch indices that ran.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self
