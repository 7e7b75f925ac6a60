"""The metrics half of the trainer: the list Keras 3's ``model.metrics`` returns, their
reset, and their current result (gathered over the ranks under a data-parallel strategy).
A mixin of Trainer, kept apart so trainer.py reads as the steps alone."""

from __future__ import annotations

from typing import Any

from pyfrozen.models import distribution


class TrainerMetrics:
    """``metrics``, ``metrics_names``, ``reset_metrics``, ``get_metrics_result``."""

    compiled = False
    _compile_loss: Any = None
    _compile_metrics: Any = None
    _loss_tracker: Any = None

    @property
    def metrics(self) -> list[Any]:
        """The loss tracker, the compiled metrics, then the per-output loss trackers."""
        out: list[Any] = []
        if self.compiled:
            out.append(self._loss_tracker)
            if self._compile_metrics is not None:
                out.append(self._compile_metrics)
            if self._compile_loss is not None:
                out.extend(self._compile_loss.metrics)
        return out

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict[str, float]:
        """``{"loss": ..., "accuracy": ..., ...}`` from the metrics' current state (under a
        data-parallel strategy: the state of every rank together)."""
        dist = distribution.of(self)
        if dist is not None:
            return dist.metrics_result(self._leaf_metrics(), self._local_metrics_result)
        return self._local_metrics_result()

    def _leaf_metrics(self) -> list[Any]:
        out: list[Any] = []
        for m in self.metrics:
            sub = getattr(m, "metrics", None)
            out.extend(sub if isinstance(sub, list) else [m])
        return out

    def _local_metrics_result(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in self.metrics:
            result = m.result()
            if isinstance(result, dict):
                out.update(result)
            else:
                out[m.name] = float(result)
        return out
