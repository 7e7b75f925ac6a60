"""AdamW (Keras 3): Adam with decoupled weight decay, 0.004 by default."""

from __future__ import annotations

from typing import Any

from pyfrozen import _core
from pyfrozen.optimizers.adam import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as Keras 3 and torch's
    ``AdamW``: ``w -= w * learning_rate * weight_decay`` before the Adam step.

    Args:
        learning_rate: float >= 0 or a schedule; default 0.001.
        weight_decay: required, default 0.004 (None raises, as Keras).
        beta_1, beta_2, epsilon, amsgrad: see ``Adam``.
        name: the optimizer's name.
        **kwargs: the other arguments of ``Optimizer`` (clipnorm, lr_multipliers, ...).

    Freezing:
        As ``Adam``: frozen weights and masked elements are never decayed nor moved.
    """

    _kernel = staticmethod(_core.adamw_update)  # the same update, counted as "adamw"

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float | None = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, name: str = "adamw", **kwargs: Any) -> None:
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         name=name, **kwargs)
