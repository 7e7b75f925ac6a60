"""The seam through which a data-parallel strategy (``pyfrozen.distributed``) takes part
in ``compile`` / ``fit`` / ``evaluate`` without models knowing about MPI.

``with strategy.scope():`` sets the strategy as the current :class:`Distribution`;
``compile()`` under it keeps it on the model (``model._distribution``), as Keras keeps
the strategy of the scope its variables were made in. The training code then asks it,
at fixed points and only when it is set:

- ``prepare(model)`` before the first step (and before ``evaluate``): check that every
  rank holds the same structure, copy rank 0's weights, statistics and optimizer
  configuration to the others. A no-op once done for this structure.
- ``on_epoch_begin()``: every rank shuffles the same way (rank 0's random state).
- ``shard(index)``: the rows of one global batch this rank trains on (None: skip it).
- ``agree(finite, samples, weights, terms)`` after the forward pass: whether every
  rank's loss is finite; also fixes this step's share of the gradient: per loss term
  (``terms``: kind, divisor, value) in ``loss_shares``, else by ``samples``.
- ``backward(loss, weights)`` instead of ``loss.backward()``: runs it and returns the
  averaged gradients of ``weights`` (their exchange may start during backward).
- ``metrics_result(metrics, compute)``: the logs over every rank's samples.
- ``any_rank(flag)``: a stop request of one rank stops all; ``on_epoch_end(model)``:
  the moving statistics made equal again.
- ``is_chief``: only that rank prints progress and writes files.

Nothing here imports MPI: models never import ``pyfrozen.distributed`` (layering rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import numpy as np


class Distribution(Protocol):
    """What the training loop asks of a data-parallel strategy (see module notes)."""

    rank: int
    size: int
    is_chief: bool

    def prepare(self, model: Any) -> bool: ...
    def on_epoch_begin(self) -> None: ...
    def shard(self, index: np.ndarray) -> np.ndarray | None: ...
    loss_shares: list[tuple[float, float]] | None

    def agree(self, finite: bool, samples: int, weights: list[Any],
              terms: list[tuple[str, float, float]] | None = None) -> bool: ...
    def backward(self, loss: Any, weights: list[Any]) -> list[Any]: ...
    def metrics_result(self, metrics: list[Any], compute: Callable[[], dict[str, float]]
                       ) -> dict[str, float]: ...
    def any_rank(self, flag: bool) -> bool: ...
    def on_epoch_end(self, model: Any) -> None: ...


_current: ContextVar[Distribution | None] = ContextVar("pyfrozen_distribution", default=None)


def current() -> Distribution | None:
    """The strategy of the enclosing ``strategy.scope()``, or None."""
    return _current.get()


@contextmanager
def use(strategy: Distribution) -> Iterator[Distribution]:
    """Makes ``strategy`` current inside the block (``strategy.scope()`` calls this)."""
    token = _current.set(strategy)
    try:
        yield strategy
    finally:
        _current.reset(token)


def of(model: Any) -> Distribution | None:
    """The strategy ``model`` was compiled under, when it spans more than one process."""
    dist = getattr(model, "_distribution", None)
    return dist if dist is not None and dist.size > 1 else None
