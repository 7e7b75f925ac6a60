"""TerminateOnNaN: stop at the first NaN or infinite loss, keeping the last good weights."""

from __future__ import annotations

import math

from pyfrozen.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Stops training when a batch's loss is NaN or infinite.

    ``fit`` never applies the update of a step whose loss is not finite, so the model
    keeps the weights of the last good step (Keras applies that update first). Without
    this callback such a step raises an error naming the output and the shapes.

    Args:
        raise_error: raise RuntimeError instead of stopping quietly.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                               f"{loss}. Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
