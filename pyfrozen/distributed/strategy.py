"""DataParallel: the same model on every MPI rank, each training on its share of every
global batch, gradients averaged (Horovod's and DDP's scheme, Keras's API).

What crosses the wire per step, and when:

- after the forward pass, one small gather (is the loss finite, how many samples, how
  many trainable elements, and per loss term its value and what it divided by: samples,
  valid samples of a masked loss, the sample weights' sum): every rank steps or none
  does, and each rank's loss term counts by its share of that divisor (1 for
  ``reduction="sum"``), so an uneven split, ignored labels or sample weights still give
  exactly the loss of one process on the global batch (and the logged loss is that);
- during backward, the trainable elements of the trainable weights, in buckets of
  ``bucket_bytes`` filled from the last layer down, summed with non-blocking
  allreduces: each starts as soon as its weights' gradients are final (overlap.py, on
  the tape's tracer hook) and is progressed between the next nodes' backward; the
  step waits for them all after backward;
- the metric states (a few numbers), so logs and callbacks see every rank's samples;
- a stop flag after each batch and epoch; at each epoch end, rank 0's moving
  statistics of trainable BatchNormalization layers (local statistics during the
  epoch, as Horovod and DDP; SyncBatchNormalization takes global ones).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd import tape
from pyfrozen.distributed import sync
from pyfrozen.distributed.buckets import BucketPlan, plan_key
from pyfrozen.distributed.comm import Communicator
from pyfrozen.distributed.overlap import BackwardOverlap
from pyfrozen.models import distribution
from pyfrozen.ops import regularization
from pyfrozen.tensor import Tensor

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_BUCKET_BYTES = 25 * 2**20


def _share_cores(ranks_here: int, threads: int | None) -> int:
    """pyfrozen's thread count for each of ``ranks_here`` ranks on one host: ``threads``,
    else OMP_NUM_THREADS when set, else this process's cores divided among the ranks
    (without this, N ranks x all cores threads oversubscribe the host several times)."""
    if threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return _core.get_num_threads()
        threads = max(1, len(os.sched_getaffinity(0)) // ranks_here)
    _core.set_num_threads(threads)
    return threads


def _share(kind: str, divisors: np.ndarray, values: np.ndarray, rank: int
           ) -> tuple[float, float]:
    """(factor of ``rank``'s loss term, the term over the global batch) from every rank's
    divisor and value: a sum adds the ranks' sums; a mean is the ranks' sums over the
    total divisor, so rank r's term (its sum over its own divisor d_r) counts d_r / D."""
    if kind == "sum":
        return 1.0, float(values.sum())
    total = float(divisors.sum())
    if not total:  # nothing counted anywhere (every sample ignored): the loss is 0
        return 0.0, 0.0
    return float(divisors[rank]) / total, float((divisors * values).sum()) / total


def _structure_key(model: Any) -> tuple[Any, ...]:
    """The model and its own weights (objects and shapes): it changes on every rank alike
    when the model gains or rebuilds weights, and only then (a layer built elsewhere on
    one rank, e.g. by a chief-only callback, leaves it as it is)."""
    return (id(model), *((id(p), tuple(p.shape)) for p in model._weights_and_states()[0]))


class DataParallel:
    """Data-parallel training over MPI (start the script with ``mpiexec -n N``).

    Args:
        timeout: seconds a rank waits for the others at any exchange before it prints
            what it waited for and aborts the job (default 300, or the environment
            variable ``PYFROZEN_MPI_TIMEOUT``).
        bucket_bytes: the most gradient bytes per allreduce (default 25 MiB).
        threads: pyfrozen's threads per rank; default: ``OMP_NUM_THREADS`` if set, else
            the cores this process may use divided by the ranks on this host.
        overlap: start each bucket's allreduce during backward, as soon as its
            gradients are final (default); False: all of them after backward.

    Attributes:
        rank, size, local_rank, local_size: this process's rank, the number of ranks,
            its rank among those on the same host and their number.
        threads: the thread count set for this rank.
        is_chief: rank 0, the one that prints progress and writes files.
        bytes_last_step: gradient bytes this rank sent into the sum at the last step.
        bytes_sent: gradient bytes sent since the strategy was made.
        steps: gradient reductions since the strategy was made.
        reduce_seconds: time spent in them after backward returned (waiting for the
            slowest rank included).
        buckets_during_backward: buckets of the last step whose allreduce started
            before backward returned.

    Raises:
        ImportError: mpi4py or the MPI library is missing (``pip install "pyfrozen[mpi]"``).

    Example (``mpiexec -n 2 python train.py``)::

        strategy = pyfrozen.distributed.DataParallel()
        with strategy.scope():
            model = build_model()
            model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=64, epochs=3)  # 64 samples per step over all ranks
    """

    def __init__(self, timeout: float | None = None,
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES, threads: int | None = None,
                 overlap: bool = True) -> None:
        if timeout is None:
            timeout = float(os.environ.get("PYFROZEN_MPI_TIMEOUT", DEFAULT_TIMEOUT_S))
        if not timeout > 0:
            raise ValueError(f"DataParallel: timeout must be > 0 seconds. Received: {timeout}")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or (
                bucket_bytes < 1):
            raise ValueError("DataParallel: bucket_bytes must be an integer >= 1. Received: "
                             f"bucket_bytes={bucket_bytes!r}")
        self.comm = Communicator(timeout)
        self.rank, self.size = self.comm.rank, self.comm.size
        self.local_rank, self.local_size = self.comm.local_rank, self.comm.local_size
        self.threads = _share_cores(self.local_size, threads)
        self.is_chief = self.rank == 0
        self.bucket_bytes = bucket_bytes
        self.overlap = bool(overlap)
        self.buckets_during_backward = 0
        self.bytes_last_step = self.bytes_sent = self.steps = 0
        self.reduce_seconds = 0.0
        self._plan: BucketPlan | None = None
        self._scale = 1.0 / self.size
        self.loss_shares: list[tuple[float, float]] | None = None
        self._prepared: set[tuple[Any, ...]] = set()

    def __repr__(self) -> str:
        return f"<DataParallel rank {self.rank} of {self.size} (local rank {self.local_rank})>"

    @contextmanager
    def scope(self) -> Iterator[DataParallel]:
        """Models compiled inside train with this strategy (``fit`` / ``evaluate``)."""
        with distribution.use(self):
            yield self

    # --- plain training loops -----------------------------------------------------------

    def broadcast_weights(self, model: Any) -> None:
        """Checks that every rank holds the same model, then copies rank 0's weights and
        statistics (and optimizer configuration) to every rank.

        Raises:
            ValueError: the models differ (same message on every rank, naming the
                first weight whose path, shape or dtype differs).
        """
        sync.check_structure(self.comm, model)
        sync.broadcast_weights(self.comm, model)
        sync.broadcast_optimizer(self.comm, model)
        self._prepared.add(_structure_key(model))

    def allreduce_gradients(self, model: Any, samples: int | None = None) -> bool:
        """Replaces each trainable weight's ``.grad`` with the mean over the ranks (for a
        custom training step, between ``loss.backward()`` and ``optimizer.apply``).

        Args:
            model: the model (or layer) whose ``trainable_weights`` are reduced.
            samples: this rank's samples in the step, when ranks differ (then the
                result is the mean over all samples); None: every rank counts equally.

        Returns:
            Whether every rank's gradients were finite (the same answer on every rank:
            skip ``optimizer.apply`` everywhere when False).

        Raises:
            RuntimeError: the ranks' trainable weights differ in size (on every rank).
        """
        weights = list(model.trainable_weights)
        finite = all(w.grad is None or np.isfinite(np.asarray(getattr(w.grad, "data", w.grad)))
                     .all() for w in weights)
        finite = self.agree(finite, 1 if samples is None else samples, weights)
        reduced = self.reduce_gradients(weights)
        for w, g in zip(weights, reduced, strict=True):
            w.grad = Tensor._wrap(np.array(g))  # a copy: the buckets are reused next step
        return finite

    def weights_in_sync(self, model: Any) -> bool:
        """Whether every rank's weights and statistics are bit-identical to rank 0's (a
        digest of each rank's arrays, gathered; the same answer on every rank)."""
        digest = hashlib.sha256()
        for p in model._weights_and_states()[0]:
            digest.update(np.ascontiguousarray(p.data).tobytes())
        row = np.frombuffer(digest.digest(), np.uint8)
        rows = self.comm.gather_rows(row, "the weights_in_sync check")
        return bool((rows == rows[0]).all())

    @contextmanager
    def local(self, model: Any) -> Iterator[Any]:
        """Inside the block, ``model`` runs on this rank alone: ``evaluate``,
        ``test_on_batch`` and ``get_metrics_result`` exchange nothing (outside it they are
        collectives every rank must call). For example
        ``if strategy.is_chief: with strategy.local(model): model.evaluate(x, y)``.

        Meant for evaluating: training inside the block (``fit``, ``train_on_batch``)
        changes this rank's weights alone, so the ranks differ until the next epoch-end
        check restores rank 0's weights (and warns), and optimizer state is not shared.
        The model's strategy is restored when the block ends, also if ``compile`` ran
        inside it."""
        saved = model._distribution
        model._distribution = None
        try:
            yield model
        finally:
            model._distribution = saved

    # --- the trainer's hooks (pyfrozen.models.distribution) -------------------------------

    def prepare(self, model: Any) -> bool:
        """Once per model structure: ``broadcast_weights``. Returns whether it ran."""
        if _structure_key(model) in self._prepared:
            return False
        self.broadcast_weights(model)
        return True

    def on_epoch_begin(self) -> None:
        """Rank 0's shuffle state everywhere; the rank folded into the dropout generator
        (``Dropout`` without ``seed``), so each shard gets its own noise as under Horovod
        (a layer's own ``seed`` still gives every rank the same masks)."""
        sync.broadcast_random_state(self.comm)
        regularization.fold_into_generator(self.rank)

    def shard(self, index: np.ndarray) -> np.ndarray | None:
        """This rank's contiguous part of one global batch; ranks get ``len // size``
        or one more row. A batch with fewer rows than ranks is skipped by every rank."""
        if len(index) < self.size:
            return None
        return np.array_split(index, self.size)[self.rank]

    def agree(self, finite: bool, samples: int, weights: list[Any],
              terms: list[tuple[str, float, float]] | None = None) -> bool:
        """Whether every rank's loss is finite; sets this rank's gradient weight.

        Args:
            terms: per loss term of this rank, ``(kind, divisor, value)``: kind "mean"
                (the term divides by ``divisor``: samples, valid samples or the sum of
                the sample weights) or "sum". Given, ``loss_shares`` holds per term the
                factor of this rank's term and the term over the global batch, and the
                gradients are summed unscaled; None: each rank's gradient is weighted
                by its share of the samples (exact for a mean over the samples).
        """
        plan = self._plan_for(weights)
        row = np.array([float(finite), float(samples), float(plan.elements)] + [
            float(x) for _, divisor, value in terms or () for x in (divisor, value)])
        rows = self.comm.gather_rows(row, "the step agreement (loss finite, sample count)")
        elements = rows[:, 2]
        if (elements != elements[0]).any():
            raise RuntimeError(
                "pyfrozen.distributed: the ranks train different weights this step "
                f"(trainable elements per rank: {elements.astype(np.int64).tolist()}): "
                "freeze and unfreeze at the same step on every rank")
        if terms is None:
            total = rows[:, 1].sum()
            self._scale = samples / total if total else 1.0 / self.size
            self.loss_shares = None
        else:
            self._scale = 1.0  # each term carries its own factor (loss_shares)
            self.loss_shares = [_share(kind, rows[:, 3 + 2 * k], rows[:, 4 + 2 * k],
                                       self.rank) for k, (kind, _, _) in enumerate(terms)]
        return bool(rows[:, 0].all())

    def backward(self, loss: Any, weights: list[Any]) -> list[Any]:
        """``loss.backward()``, each bucket's allreduce started as soon as its gradients
        are final (``overlap``), or all after backward; returns the summed gradients,
        each rank's weighted by its share of the global batch."""
        plan = self._plan_for(weights)
        if not self.overlap:
            if loss.requires_grad:
                loss.backward()
            return self._reduce(plan, None)
        watcher = BackwardOverlap(plan, loss, self._scale, self.comm)
        watcher.previous = tape.set_tracer(watcher)
        try:
            if loss.requires_grad:
                loss.backward()
        finally:
            tape.set_tracer(watcher.previous)
        return self._reduce(plan, watcher)

    def reduce_gradients(self, weights: list[Any]) -> list[Any]:
        """The gradients (``weight.grad``) summed over the ranks, each weighted by its
        rank's share of the global batch (set by ``agree``)."""
        return self._reduce(self._plan_for(weights), None)

    def _reduce(self, plan: BucketPlan, watcher: BackwardOverlap | None) -> list[Any]:
        what = f"the gradient allreduce ({len(plan.buffers)} buckets, {plan.nbytes} bytes)"
        start = time.perf_counter()
        if watcher is None:
            plan.pack(self._scale)
            self.comm.wait([self.comm.start_sum(b) for b in plan.buffers], what)
            self.buckets_during_backward = 0
        else:
            self.buckets_during_backward = watcher.finish(what)
        self.reduce_seconds += time.perf_counter() - start
        self.bytes_last_step = plan.nbytes
        self.bytes_sent += plan.nbytes
        self.steps += 1
        return plan.unpack()

    def metrics_result(self, metrics: list[Any], compute: Callable[[], dict[str, float]]
                       ) -> dict[str, float]:
        """``compute()`` with every metric holding the sum of all ranks' states (metrics
        without ``state_names``: the mean of their results)."""
        parts = [np.asarray(getattr(m, n), np.float64).reshape(-1)
                 for m in metrics for n in m.state_names]
        plain = [m for m in metrics if not m.state_names]
        parts.append(np.array([float(m.result()) / self.size for m in plain]))
        total = self.comm.sum(np.concatenate(parts), "the metrics allreduce")
        saved = [(m, n, getattr(m, n)) for m in metrics for n in m.state_names]
        offset = 0
        try:
            for m, n, value in saved:
                size = np.size(value)
                chunk = total[offset:offset + size]
                setattr(m, n, chunk.reshape(np.shape(value)) if np.ndim(value) else
                        float(chunk[0]))
                offset += size
            for m, value in zip(plain, total[offset:], strict=True):
                m.result = lambda v=float(value): v  # instance attribute, removed below
            return compute()
        finally:
            for m, n, value in saved:
                setattr(m, n, value)
            for m in plain:
                del m.result

    def any_rank(self, flag: bool) -> bool:
        return bool(self.comm.max(np.array([float(flag)]), "the stop_training exchange")[0])

    def on_epoch_end(self, model: Any) -> None:
        """Rank 0's moving statistics everywhere (they moved apart on local batches);
        weights that differ between ranks are reported and replaced by rank 0's."""
        sync.broadcast_weights(self.comm, model, statistics_only=True)
        if not self.weights_in_sync(model):  # one digest per rank and epoch: cheap
            warnings.warn(
                f"pyfrozen.distributed: the ranks' weights of model {model.name!r} differ "
                "at the end of this epoch; rank 0's are copied to every rank. Gradients "
                "were not averaged: a custom train_step must call "
                "strategy.allreduce_gradients(model) between backward and "
                "optimizer.apply.", RuntimeWarning, stacklevel=3)
            sync.broadcast_weights(self.comm, model)

    def _plan_for(self, weights: list[Any]) -> BucketPlan:
        if self._plan is None or self._plan.key != plan_key(weights):
            self._plan = BucketPlan(weights, self.bucket_bytes)
        return self._plan
