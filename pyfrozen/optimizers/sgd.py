"""SGD with momentum and Nesterov momentum (Keras 3) on ``_core.sgd_update``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.optimizers.optimizer import Optimizer, check_number


class SGD(Optimizer):
    """Gradient descent with momentum, Keras 3's update rule.

    ``momentum == 0``: ``w -= learning_rate * g``. Otherwise
    ``velocity = momentum * velocity - learning_rate * g`` then ``w += velocity``, or
    with ``nesterov=True`` ``w += momentum * velocity - learning_rate * g``. (torch's
    ``SGD(momentum=m)`` gives the same weights for a constant rate: its buffer is
    ``-velocity / learning_rate``.) Weight decay is decoupled (see ``Optimizer``).

    Args:
        learning_rate: float >= 0 or a schedule; default 0.01.
        momentum: in [0, 1); default 0.
        nesterov: Nesterov momentum (only has an effect with momentum > 0).
        weight_decay: decoupled weight decay (see ``Optimizer``).
        name: the optimizer's name.
        **kwargs: the other arguments of ``Optimizer`` (clipnorm, clipvalue,
            global_clipnorm, lr_multipliers, loss_scale_factor, ...).

    Freezing:
        Frozen weights are skipped and get no ``momentum`` slot; masked elements of a
        weight and of its slot never change (the update kernel gets the weight's mask).

    Example:

    >>> import numpy as np, pyfrozen
    >>> w = pyfrozen.Parameter(np.array([1.0, 2.0]))
    >>> opt = pyfrozen.optimizers.SGD(learning_rate=0.1)
    >>> opt.apply([np.array([1.0, -1.0])], [w])
    >>> w.numpy(), opt.iterations
    (array([0.9, 2.1]), 1)
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float | None = None,
                 name: str = "SGD", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         name=name, **kwargs)
        self.momentum = check_number("momentum", momentum, high=1.0)
        self.nesterov = bool(nesterov)

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum > 0 else ()

    def _update(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray],
                step: int, learning_rate: float, weight_decay: float,
                mask: np.ndarray | None) -> None:
        velocity = slots.get("momentum")
        _core.sgd_update(param, grad, velocity, learning_rate=learning_rate,
                         momentum=self.momentum if velocity is not None else 0.0,
                         nesterov=self.nesterov and velocity is not None,
                         weight_decay=weight_decay, mask=mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
