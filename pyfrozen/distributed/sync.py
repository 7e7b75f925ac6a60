"""Making every rank start from rank 0's model: the structure check, the weights and
statistics, the optimizer's configuration and the shuffling state.

The structure (each weight's path, shape and dtype, in the order the weights are
walked) is compared first through a digest every rank gathers; if one differs, the
signatures of rank 0 and of the first differing rank are broadcast, and every rank
raises the same ValueError naming the first weight that differs. Only then are
arrays broadcast, so a mismatch can never scramble weights.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from pyfrozen import optimizers
from pyfrozen.distributed.comm import Communicator
from pyfrozen.models.saving import weight_paths


def signature(model: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """(path, shape, dtype) of every weight and statistic, in broadcast order."""
    every, _ = model._weights_and_states()
    try:
        paths = {id(p): path for path, p in weight_paths(model)}
    except ValueError:  # two weights under one path: the weight names still tell a lot
        paths = {}
    return [(paths.get(id(p), str(p.name)), tuple(p.shape), str(p.dtype)) for p in every]


def first_difference(ours: list[Any], theirs: list[Any], rank: int) -> str:
    """Where rank ``rank``'s signature (``theirs``) first departs from rank 0's."""
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            return (f"weight #{i}: rank 0 has {a[0]!r} {a[1]} {a[2]}, rank {rank} has "
                    f"{b[0]!r} {b[1]} {b[2]}")
    return (f"rank 0 has {len(ours)} weights, rank {rank} has {len(theirs)} (first extra: "
            f"{(ours if len(ours) > len(theirs) else theirs)[min(len(ours), len(theirs))]})")


def check_structure(comm: Communicator, model: Any) -> None:
    """Raises the same ValueError on every rank if the models differ (see module notes)."""
    ours = signature(model)
    digest = np.frombuffer(hashlib.sha256(repr(ours).encode()).digest(), np.uint8)
    digests = comm.gather_rows(digest, "the model structure check")
    differing = [r for r in range(comm.size) if not np.array_equal(digests[r], digests[0])]
    if not differing:
        return
    rank = differing[0]
    reference = comm.broadcast_object(ours, "the model structure check", root=0)
    theirs = comm.broadcast_object(ours, "the model structure check", root=rank)
    raise ValueError(f"pyfrozen.distributed: model {model.name!r} differs between ranks "
                     f"(rank(s) {differing} differ from rank 0): "
                     f"{first_difference(reference, theirs, rank)}. Every rank must build "
                     "the same model (same layers, names, shapes and dtypes).")


def broadcast_weights(comm: Communicator, model: Any, statistics_only: bool = False) -> int:
    """Copies rank 0's weights and statistics (or only the weights created
    non-trainable: BN's moving statistics) into every rank's model; returns the bytes."""
    every, states = model._weights_and_states()
    chosen = states if statistics_only else every
    for p in chosen:
        if not p.data.flags.c_contiguous:
            p.data = np.ascontiguousarray(p.data)
    what = "rank 0's moving statistics" if statistics_only else "rank 0's weights"
    comm.broadcast_arrays([p.data for p in chosen], f"the broadcast of {what}")
    for p in chosen:
        p._bump_version()
    return sum(p.data.nbytes for p in chosen)


def broadcast_optimizer(comm: Communicator, model: Any) -> None:
    """Rank 0's optimizer configuration on every rank (a differing one is replaced; its
    state, if any, is dropped: the first step builds it the same way everywhere)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return
    config = comm.broadcast_object(optimizers.serialize(optimizer), "the optimizer broadcast")
    if comm.rank != 0 and config != optimizers.serialize(optimizer):
        model.optimizer = optimizers.deserialize(config)
        model._lr_resolved = False  # lr_multipliers are matched again at the next step


def broadcast_random_state(comm: Communicator) -> None:
    """numpy's global random state of rank 0 on every rank: fit's shuffles then agree
    (and equal those of one process seeded the same way)."""
    state = comm.broadcast_object(np.random.get_state(), "the shuffle seed broadcast")
    if comm.rank != 0:
        np.random.set_state(state)
