"""Starting each bucket's allreduce while backward still runs.

The tape calls its tracer (``tape.set_tracer``, the hook ``autograd.trace()`` uses)
after each node's backward, before that node's gradients reach the leaves. Before the
sweep, :class:`BackwardOverlap` walks the same reverse topological order the tape will
(``tape.reverse_topological_order``) and notes, per weight, the last node that feeds
its gradient. When the tracer hears of node ``k``, the gradients fed only by nodes
before ``k`` are final; a bucket whose weights are all final is packed and its
allreduce started, and every call also tests the requests in flight, which is what
lets MPI progress them (there is no progress thread). A tracer already installed (a
user's ``trace()``) keeps receiving every call.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.autograd import tape
from pyfrozen.distributed.buckets import BucketPlan
from pyfrozen.distributed.comm import Communicator


def last_uses(root: Any) -> dict[int, int]:
    """``{id(leaf): index of the last node in backward order that feeds it}``."""
    last: dict[int, int] = {}
    for index, node in enumerate(tape.reverse_topological_order(root)):
        for needed, parent in zip(node.needs_input_grad, node.parents, strict=True):
            if needed and parent is not None and not isinstance(parent, tape.Node):
                last[id(parent)] = index
    return last


class BackwardOverlap:
    """A tape tracer for one backward pass of ``loss`` (see module notes).

    Args:
        plan: the buckets of the weights that train this step.
        loss: the tensor ``backward()`` is called on.
        scale: this rank's weight in the sum (its share of the global batch).
        comm: the communicator.
    """

    def __init__(self, plan: BucketPlan, loss: Any, scale: float, comm: Communicator) -> None:
        self.plan, self.scale, self.comm = plan, scale, comm
        self.previous: Any = None
        self.requests: list[Any] = []
        self.position = 0  # nodes whose backward has run
        last = last_uses(loss._node) if loss._node is not None else {}
        ready = [-1] * len(plan.buffers)
        for slot in plan.slots:
            ready[slot.bucket] = max(ready[slot.bucket], last.get(id(slot.weight), -1))
        self.pending = sorted(range(len(ready)), key=ready.__getitem__)
        self.ready_at = ready

    # --- the tracer protocol (called by the compiled tape) -------------------------------

    def begin(self) -> tuple[Any]:
        return (self.previous.begin() if self.previous is not None else None,)

    def end(self, node: Any, snapshot: tuple[Any], phase: str) -> None:
        if self.previous is not None:
            self.previous.end(node, snapshot[0], phase)
        if phase != "backward":
            return
        # Nodes 0 .. position - 1 have handed their gradients to the leaves.
        self._start_ready(self.position - 1)
        self.position += 1
        if self.requests:
            self.comm.MPI.Request.Testall(self.requests)  # progress the ones in flight

    # --- the step ---------------------------------------------------------------------

    def _start_ready(self, done: float) -> None:
        while self.pending and self.ready_at[self.pending[0]] <= done:
            bucket = self.pending.pop(0)
            self.plan.pack_bucket(bucket, self.scale)
            self.requests.append(self.comm.start_sum(self.plan.buffers[bucket]))

    def finish(self, what: str) -> int:
        """Starts the buckets still waiting (every gradient is final once backward has
        returned), completes every allreduce; returns how many had started during
        backward."""
        early = len(self.requests)
        self._start_ready(float("inf"))
        self.comm.wait(self.requests, what)
        return early
