"""SyncBatchNormalization: batch statistics over the global batch of every rank.

A trainable BatchNormalization under DataParallel normalises each rank's share of the
batch with that share's own statistics (Horovod's and DDP's default). This layer sums
the per-channel statistics over the ranks instead, so training equals one process
normalising the whole global batch (Keras's ``synchronized=True``, torch's
``SyncBatchNorm``), at the price of two small allreduces in the forward pass (counts
and sums, then squared deviations: two passes, as the core's kernel) and one in
backward, per layer and step.

Backward, in the units of each rank's own loss (the strategy weights every rank's
gradients by its share ``s_r = n_r / N`` afterwards):
``dx = gamma * inv_std * (dy - (A + xhat * B) / n_r)`` with
``A = sum_r s_r * sum(dy)`` and ``B = sum_r s_r * sum(dy * xhat)`` over the ranks;
``dgamma`` and ``dbeta`` are the local sums. With one rank it is plain BatchNormalization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.models import distribution
from pyfrozen.tensor import Tensor


class SyncBatchNormTraining(Function):
    """Training-mode batch norm over all ranks; updates the moving statistics in place."""

    name = "sync_batch_norm"

    @staticmethod
    def forward(ctx, x, gamma, beta, *, strategy, epsilon, momentum, running_mean,
                running_var):
        comm = strategy.comm
        rows = x.reshape(-1, x.shape[-1])
        count_and_sum = np.concatenate([[rows.shape[0]], rows.sum(0, dtype=np.float64)])
        comm.sum(count_and_sum, "the SyncBatchNormalization statistics")
        total = count_and_sum[0]
        mean = count_and_sum[1:] / total
        centred = rows - mean.astype(x.dtype)
        var = comm.sum(np.square(centred, dtype=np.float64).sum(0),
                       "the SyncBatchNormalization statistics") / total
        inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype)
        xhat = centred * inv_std
        running_mean *= momentum
        running_mean += ((1.0 - momentum) * mean).astype(running_mean.dtype)
        running_var *= momentum
        running_var += ((1.0 - momentum) * var).astype(running_var.dtype)
        ctx.strategy, ctx.total, ctx.rows = strategy, total, rows.shape[0]
        ctx.save_for_backward(xhat, inv_std, gamma)
        return (xhat * gamma + beta).reshape(x.shape)

    @staticmethod
    def backward(ctx, dy):
        xhat, inv_std, gamma = ctx.saved_tensors
        d = dy.reshape(xhat.shape)
        local = np.stack([d.sum(0, dtype=np.float64), (d * xhat).sum(0, dtype=np.float64)])
        dbeta, dgamma = local[0].astype(dy.dtype), local[1].astype(dy.dtype)
        # The fit step scales each rank's loss by its share (strategy.loss_shares): dy is
        # already the global loss's. Otherwise the gradients are weighted by the
        # sample share after backward: the sums here are weighted likewise.
        if ctx.strategy.loss_shares is not None:
            both = ctx.strategy.comm.sum(local, "the SyncBatchNormalization gradient sums")
            a, b = (both / ctx.total).astype(dy.dtype)
        else:
            both = ctx.strategy.comm.sum(local * (ctx.rows / ctx.total),
                                         "the SyncBatchNormalization gradient sums")
            a, b = (both / ctx.rows).astype(dy.dtype)
        dx = (gamma * inv_std) * (d - a - xhat * b)
        return dx.reshape(dy.shape), dgamma, dbeta


class SyncBatchNormalization(BatchNormalization):
    """BatchNormalization whose batch statistics span every rank of the strategy it was
    made under (``with strategy.scope():``); same arguments and weights.

    Freezing:
        A frozen (``trainable=False``) layer runs in inference mode, as
        BatchNormalization: nothing is exchanged. Outside a data-parallel strategy, or
        with one rank, it is BatchNormalization. Needs ``center`` and ``scale``.

    Raises:
        ValueError: ``center=False`` or ``scale=False``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (self.center and self.scale):
            raise ValueError(f"SyncBatchNormalization {self.name!r}: center and scale must "
                             "be True")
        strategy = distribution.current()
        self._strategy: Any = strategy if (
            getattr(strategy, "comm", None) is not None and strategy.size > 1) else None

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self._strategy is None or not (training and self.trainable):
            return super().call(inputs, training=training)
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        y = SyncBatchNormTraining.apply(
            x, self.gamma, self.beta, strategy=self._strategy, epsilon=self.epsilon,
            momentum=self.momentum, running_mean=self.moving_mean.data,
            running_var=self.moving_variance.data)
        self.moving_mean._bump_version()
        self.moving_variance._bump_version()
        return y
