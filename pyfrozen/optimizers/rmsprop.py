"""RMSprop (Keras 3) with momentum and the centered variant, on ``_core.rmsprop_update``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.optimizers.optimizer import Optimizer, check_number


class RMSprop(Optimizer):
    """RMSprop, Keras 3's formula (epsilon inside the square root, unlike torch)::

        velocity = rho * velocity + (1 - rho) * g**2
        centered: average_gradient = rho * average_gradient + (1 - rho) * g
                  d = velocity - average_gradient**2 + epsilon;  else d = velocity + epsilon
        increment = learning_rate * g / sqrt(d)
        momentum > 0: momentum_slot = momentum * momentum_slot + increment; w -= momentum_slot
        else:         w -= increment

    Args:
        learning_rate: float >= 0 or a schedule; default 0.001.
        rho: discount of the old squared gradients, in [0, 1); default 0.9.
        momentum: in [0, 1); default 0.
        epsilon: >= 0, default 1e-7.
        centered: divide by the estimated variance instead of the second moment.
        weight_decay: decoupled weight decay (see ``Optimizer``).
        name: the optimizer's name.
        **kwargs: the other arguments of ``Optimizer`` (clipnorm, clipvalue,
            global_clipnorm, lr_multipliers, loss_scale_factor, ...).

    Freezing:
        Frozen weights are skipped and get no slots; masked elements of a weight and of
        its slots never change.
    """

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False,
                 weight_decay: float | None = None, name: str = "rmsprop",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         name=name, **kwargs)
        self.rho = check_number("rho", rho, high=1.0)
        self.momentum = check_number("momentum", momentum, high=1.0)
        self.epsilon = check_number("epsilon", epsilon)
        self.centered = bool(centered)

    def _slot_names(self) -> tuple[str, ...]:
        names = ["velocity"]
        if self.momentum > 0:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        return tuple(names)

    def _update(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray],
                step: int, learning_rate: float, weight_decay: float,
                mask: np.ndarray | None) -> None:
        _core.rmsprop_update(param, grad, slots["velocity"], learning_rate=learning_rate,
                             rho=self.rho, momentum=self.momentum,
                             momentum_buffer=slots.get("momentum"), centered=self.centered,
                             mean_grad=slots.get("average_gradient"), epsilon=self.epsilon,
                             weight_decay=weight_decay, mask=mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
