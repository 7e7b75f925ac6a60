"""Which way a monitored quantity improves ("min" or "max"), shared by the callbacks
that watch one (EarlyStopping, ModelCheckpoint)."""

from __future__ import annotations

import operator
import warnings
from typing import Any

_MAX_HINTS = ("acc", "auc", "precision", "recall")


def check_mode(mode: str, owner: str) -> str:
    """``mode`` if known, else "auto" with Keras's warning."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def monitor_op(mode: str, monitor: str, model: Any, owner: str) -> Any:
    """``operator.lt`` (lower is better) or ``operator.gt``.

    In "auto" mode: "loss" and ``*_loss`` go down; a metric of the model with a
    ``_direction`` ("up"/"down") says so; names with acc/auc/precision/recall go up.

    Raises:
        ValueError: "auto" cannot tell (Keras's message: pass mode="min" or "max").
    """
    if mode == "min":
        return operator.lt
    if mode == "max":
        return operator.gt
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return operator.lt
    for metric in _model_metrics(model):
        if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
            return operator.gt if metric._direction == "up" else operator.lt
    if any(hint in name for hint in _MAX_HINTS):
        return operator.gt
    if any(hint in name for hint in ("error", "mse", "mae", "crossentropy", "divergence")):
        return operator.lt
    raise ValueError(f"{owner} callback received monitor={monitor}, but pyfrozen isn't able to "
                     "automatically determine whether that metric should be maximized or "
                     "minimized. Pass `mode='max'` in order to monitor based on the highest "
                     "metric value, or pass `mode='min'` in order to use the lowest value.")


def _model_metrics(model: Any) -> list[Any]:
    found = []
    for metric in getattr(model, "metrics", None) or []:
        found.extend(getattr(metric, "metrics", None) or [metric])
    return found
