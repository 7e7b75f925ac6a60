"""MPI through mpi4py, where every wait has a deadline.

Every collective is started non-blocking and then polled (``Testall``) until it
completes or ``timeout`` seconds pass. A rank that died, hangs, or took another road
through the code (a collective nobody else joins) would otherwise block the others
for ever; here the waiting ranks print what they waited for and call ``MPI_Abort``,
which ends the whole job with a non-zero exit status. mpi4py is imported only when a
:class:`Communicator` is made, never by ``import pyfrozen``.
"""

from __future__ import annotations

import pickle
import sys
import time
from typing import Any

import numpy as np

INSTALL_HINT = ('pyfrozen.distributed needs mpi4py and an MPI library: pip install '
                '"pyfrozen[mpi]" (mpi4py and the mpich wheel), then start the script with '
                'mpiexec -n N python train.py')

# A waiting rank polls without pause for _SPIN_S, then sleeps _NAP_S between polls:
# short waits stay fast, long ones (a slower rank) leave the core to the ranks still
# computing. (2,000 busy polls, ~1 ms, cost a frozen-base step of MobileNet 0.25 a
# quarter of its CPU time on a loaded 2-core host.)
_SPIN_S = 5e-5
_NAP_S = 5e-5
# MPI_Abort ends the job at once: MPICH's launcher kills every rank and may exit
# before it has forwarded what the aborting rank just wrote to stderr (4 of 12 start-up
# timeouts lost their message). A short pause lets the message through first.
_ABORT_GRACE_S = 0.5


def load_mpi() -> Any:
    """The ``mpi4py.MPI`` module (initialises MPI on first use).

    Raises:
        ImportError: mpi4py or its MPI library is missing (the message says what to install).
    """
    try:
        from mpi4py import MPI
    except ImportError as error:  # also a missing libmpi.so under mpi4py
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return MPI


class Communicator:
    """A duplicate of ``MPI.COMM_WORLD`` (so user code on COMM_WORLD never interleaves
    with ours) whose collectives give up after ``timeout`` seconds.

    Args:
        timeout: seconds a rank waits for the others at one collective before it
            aborts the job.
    """

    def __init__(self, timeout: float) -> None:
        self.MPI = load_mpi()
        world = self.MPI.COMM_WORLD
        self.comm, self.rank, self.size = world, world.Get_rank(), world.Get_size()
        self.timeout = float(timeout)
        # Dup and Split_type block without a deadline: meet every rank first in a
        # non-blocking barrier that has one (a rank that never makes its strategy).
        self.wait([world.Ibarrier()], "the start-up (every rank making its DataParallel)")
        self.comm = world.Dup()
        # The ranks on this host (they share its cores): made once, at start-up.
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()

    # --- waiting ---------------------------------------------------------------------------

    def wait(self, requests: list[Any], what: str) -> None:
        """Completes ``requests``, or aborts every rank after ``timeout`` seconds."""
        test_all = self.MPI.Request.Testall
        if test_all(requests):
            return
        start = time.monotonic()
        spin_until, deadline = start + _SPIN_S, start + self.timeout
        while not test_all(requests):
            now = time.monotonic()
            if now < spin_until:
                continue
            if now > deadline:
                self.abort(f"{what} did not complete within {self.timeout:g} s: another "
                           "rank has failed, hangs or runs different code (its own error, "
                           "if any, is printed above)")
            time.sleep(_NAP_S)

    def abort(self, message: str) -> None:
        """Prints ``message`` naming this rank, then ends every rank (exit status 1)."""
        print(f"pyfrozen.distributed: rank {self.rank} of {self.size}: {message}. Aborting "
              "all ranks.", file=sys.stderr, flush=True)
        time.sleep(_ABORT_GRACE_S)
        self.comm.Abort(1)

    # --- collectives -----------------------------------------------------------------------

    def start_sum(self, buffer: np.ndarray) -> Any:
        """Starts an in-place sum of ``buffer`` over all ranks; returns the request."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)

    def sum(self, buffer: np.ndarray, what: str) -> np.ndarray:
        """``buffer`` summed over all ranks, in place."""
        self.wait([self.start_sum(buffer)], what)
        return buffer

    def max(self, buffer: np.ndarray, what: str) -> np.ndarray:
        """``buffer``'s element-wise maximum over all ranks, in place."""
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.MAX)
        self.wait([request], what)
        return buffer

    def gather_rows(self, row: np.ndarray, what: str) -> np.ndarray:
        """Every rank's ``row`` (same shape and dtype everywhere) as ``(size, *row.shape)``."""
        out = np.empty((self.size, *row.shape), row.dtype)
        self.wait([self.comm.Iallgather(np.ascontiguousarray(row), out)], what)
        return out

    def broadcast_arrays(self, arrays: list[np.ndarray], what: str, root: int = 0) -> None:
        """Overwrites each array in place with ``root``'s (C-contiguous arrays only)."""
        requests = [self.comm.Ibcast(a, root=root) for a in arrays if a.size]
        self.wait(requests, what)

    def broadcast_object(self, obj: Any, what: str, root: int = 0) -> Any:
        """``root``'s ``obj`` (pickled) on every rank."""
        data = np.frombuffer(pickle.dumps(obj), np.uint8) if self.rank == root else None
        length = np.array([0 if data is None else data.size], np.int64)
        self.broadcast_arrays([length], what, root)
        buffer = data.copy() if data is not None else np.empty(int(length[0]), np.uint8)
        self.broadcast_arrays([buffer], what, root)
        return obj if self.rank == root else pickle.loads(buffer.tobytes())
