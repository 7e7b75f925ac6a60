"""ModelCheckpoint: save the model or its weights every epoch, or only the best ones."""

from __future__ import annotations

import os
import warnings
from typing import Any

from pyfrozen.callbacks.callback import Callback
from pyfrozen.callbacks.monitor import check_mode, monitor_op


class ModelCheckpoint(Callback):
    """Saves the whole model (``model.save``, a ``.keras`` file) or its weights
    (``save_weights``, ``.weights.h5`` or ``.safetensors``); every file is written atomically.

    Args:
        filepath: file to write; may hold ``{epoch:02d}`` and log keys
            (``"w-{epoch:02d}-{val_loss:.2f}.weights.h5"``). Its folder is created.
        monitor: quantity for ``save_best_only``; default "val_loss".
        verbose: 1 prints each decision.
        save_best_only: write only when ``monitor`` improves.
        save_weights_only: False (Keras's default): ``filepath`` must end in ``.keras``;
            True: it must end in ``.weights.h5`` or ``.safetensors`` (Keras's rule).
        mode: "auto", "min" or "max".
        save_freq: "epoch" or a number of batches.
        initial_value_threshold: the best value to beat at first.

    Raises:
        ValueError: ``filepath``'s suffix does not fit ``save_weights_only``, or
            ``save_freq`` is neither "epoch" nor an integer.
    """

    chief_only = True  # under a data-parallel strategy rank 0 alone writes the file

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: Any = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        _check_suffix(os.fspath(filepath), save_weights_only)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq < 1):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are "
                             "'epoch' or integer values")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.mode = check_mode(mode, "ModelCheckpoint")
        self.best = initial_value_threshold
        self.monitor_op: Any = None
        self._batches_since_save = 0
        self._current_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Checked now rather than at the first save, an epoch into training.
        from pyfrozen.models.model import is_functional  # late: models import callbacks

        if not self.save_weights_only and not is_functional(self.model):
            raise ValueError(
                f"ModelCheckpoint({self.filepath!r}): model {self.model.name!r} "
                f"({type(self.model).__name__}) defines its own call(), which a .keras file "
                "cannot describe; pass save_weights_only=True with a .weights.h5 or "
                ".safetensors path")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath, overwrite=True)

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=4)
            return True
        if self.monitor_op is None:
            self.monitor_op = monitor_op(self.mode, self.monitor, self.model, "ModelCheckpoint")
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as err:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {err}") from None




def _check_suffix(filepath: str, save_weights_only: bool) -> None:
    # Keras 3's rule, checked up front so a long fit does not fail at its first save.
    if save_weights_only and not filepath.endswith((".weights.h5", ".safetensors")):
        raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                         "filepath provided must end in `.weights.h5` (Keras weights format) "
                         f"or `.safetensors` (pyfrozen's). Received: filepath={filepath}")
    if not save_weights_only and not filepath.endswith(".keras"):
        raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                         f"Received: filepath={filepath}")
