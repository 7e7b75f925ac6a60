"""The trainer's steps under a data-parallel strategy (``models/distribution.py``): what
``train_step`` does differently when the model was compiled in ``strategy.scope()``.

Kept apart from trainer.py so the single-process step reads straight through.
"""

from __future__ import annotations

import math
from typing import Any

from pyfrozen.autograd import no_grad
from pyfrozen.tensor import Tensor


def prepare(model: Any, dist: Any, x: Any) -> None:
    """``dist.prepare(model)`` (rank 0's weights everywhere, once per structure); an
    unbuilt model is first built by an inference forward pass without tape, so the
    training step's one forward pass runs on rank 0's weights and moves the moving
    statistics once."""
    if not model.built:
        with no_grad():
            model._forward(x, training=False)
    dist.prepare(model)


def agree_on_loss(model: Any, dist: Any, loss: Tensor, value: float, batch: int,
                  weights: list[Any], own_loss: bool) -> tuple[bool, Tensor]:
    """Whether every rank's loss is finite, and the loss this rank runs backward on.

    With the compiled loss (``own_loss``: ``compute_loss`` not overridden), each rank
    tells the others what each loss term divided by (samples, valid samples of a masked
    loss, the sample weights' sum; nothing for ``reduction="sum"``): its terms are
    weighted by its share of that, so the summed gradient and the logged loss are those
    of one process on the global batch. Otherwise each rank's gradient counts by its
    share of the samples (exact for a mean over the samples).
    """
    compiled = model._compile_loss
    terms = None
    if own_loss and compiled is not None and compiled.terms:
        terms = [(kind, divisor, float(t.data)) for t, _, kind, divisor in compiled.terms]
    finite = dist.agree(math.isfinite(value), batch, weights, terms)
    shares = dist.loss_shares if terms is not None else None
    if shares is None:
        model._loss_tracker.update_state(value, sample_weight=batch)
        return finite, loss
    # Every rank logs the global loss with its own sample count: summed over the ranks
    # (metrics_result), the tracker holds the global loss weighted by the global batch.
    model._loss_tracker.update_state(
        sum(w * g for (_, w, _, _), (_, g) in zip(compiled.terms, shares, strict=True)),
        sample_weight=batch)
    for metric, (_, g) in zip(compiled.metrics, shares, strict=False):
        metric.update_state(g, sample_weight=batch)
    if not finite:
        return finite, loss
    total = None
    for (term, w, _, _), (factor, _) in zip(compiled.terms, shares, strict=True):
        part = term * (w * factor)
        total = part if total is None else total + part
    return finite, total
