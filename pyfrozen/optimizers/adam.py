"""Adam (Keras 3), with AMSGrad, on ``_core.adam_update``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.optimizers.optimizer import Optimizer, check_number


class Adam(Optimizer):
    """Adam, Keras 3's formula (epsilon added to ``sqrt(v)``, not to the bias-corrected
    root as in torch)::

        m += (g - m) * (1 - beta_1);  v += (g * g - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon),  alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)

    ``t`` counts this weight's own updates (Keras uses the optimizer's iterations):
    a weight unfrozen late gets the bias correction of a first step. torch's Adam
    with ``eps_torch = epsilon / sqrt(1 - beta_2**t)`` is the same formula.

    Args:
        learning_rate: float >= 0 or a schedule; default 0.001.
        beta_1, beta_2: decay rates of the moments, in [0, 1).
        epsilon: >= 0, default 1e-7.
        amsgrad: keep the running maximum of ``v`` (``velocity_hat``) and divide by it.
            It runs in numpy (several passes over memory) rather than the fused kernel.
        weight_decay: decoupled weight decay (see ``Optimizer``).
        name: the optimizer's name.
        **kwargs: the other arguments of ``Optimizer`` (clipnorm, clipvalue,
            global_clipnorm, lr_multipliers, loss_scale_factor, ...).

    Freezing:
        Frozen weights are skipped and get no ``momentum`` / ``velocity`` slots; masked
        elements of a weight and of its slots never change.
    """

    _kernel = staticmethod(_core.adam_update)

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float | None = None, name: str = "adam",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         name=name, **kwargs)
        self.beta_1 = check_number("beta_1", beta_1, high=1.0)
        self.beta_2 = check_number("beta_2", beta_2, high=1.0)
        self.epsilon = check_number("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else (
            "momentum", "velocity")

    def _update(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray],
                step: int, learning_rate: float, weight_decay: float,
                mask: np.ndarray | None) -> None:
        if self.amsgrad:
            self._amsgrad_update(param, grad, slots, step, learning_rate, weight_decay, mask)
            return
        self._kernel(param, grad, slots["momentum"], slots["velocity"], step=step,
                     learning_rate=learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                     epsilon=self.epsilon, weight_decay=weight_decay, mask=mask)

    def _amsgrad_update(self, param: np.ndarray, grad: np.ndarray,
                        slots: dict[str, np.ndarray], step: int, learning_rate: float,
                        weight_decay: float, mask: np.ndarray | None) -> None:
        # Computed whole, then stored only where trainable: masks select, never multiply.
        t = param.dtype.type
        keep = True if mask is None else ~mask
        m, v, v_hat = slots["momentum"], slots["velocity"], slots["velocity_hat"]
        alpha = learning_rate * math.sqrt(1 - self.beta_2**step) / (1 - self.beta_1**step)
        with np.errstate(all="ignore"):  # NaN/Inf where frozen are never stored
            new_m = m + (grad - m) * t(1 - self.beta_1)
            new_v = v + (grad * grad - v) * t(1 - self.beta_2)
            new_v_hat = np.maximum(v_hat, new_v)
            w = param
            decay = learning_rate * weight_decay
            if decay != 0:
                w = w - w * t(decay)
            w = w - (new_m * t(alpha)) / (np.sqrt(new_v_hat) + t(self.epsilon))
        for dst, src in ((m, new_m), (v, new_v), (v_hat, new_v_hat), (param, w)):
            np.copyto(dst, src, where=keep)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}
