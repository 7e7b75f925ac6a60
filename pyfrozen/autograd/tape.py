"""The autograd tape: node records and the reverse topological walk.

This file is compiled by Cython together with ``tape.pxd`` (which makes ``Node`` an
extension type and types the loop variables); the installed package holds only the
compiled module. There is no pure-Python fallback: ``COMPILED`` is True in every
working install, and a test asserts it.

A :class:`Node` is recorded only for an op some input of which needs a gradient,
and it keeps, per input, whether that gradient is needed. The walk follows only
those edges, so a frozen branch of the graph is never visited.
"""

import cython

COMPILED = cython.compiled


class Node:
    """One recorded op.

    Args:
        name: op or layer name, for traces and error messages.
        parents: per input, the Node that produced it, or None for a leaf or an
            input that was not recorded.
        needs_input_grad: per input, whether backward must produce its gradient.
        backward: callable run by the engine; None once released.
        saved: the arrays backward needs (only those: saving is by need).
    """

    def __init__(self, name, parents, needs_input_grad, backward=None, saved=()):
        parents = tuple(parents)
        needs_input_grad = tuple(bool(x) for x in needs_input_grad)
        if len(parents) != len(needs_input_grad):
            raise ValueError(
                f"Node {name!r}: {len(parents)} parents but "
                f"{len(needs_input_grad)} needs_input_grad flags"
            )
        self.name = name
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.backward = backward
        self.saved = tuple(saved)

    def release(self):
        """Drops the saved arrays and the backward closure (after backward ran)."""
        self.saved = ()
        self.backward = None

    def __repr__(self):
        return f"Node({self.name!r}, needs_input_grad={self.needs_input_grad})"


def reverse_topological_order(root):
    """Nodes reachable from ``root`` along edges whose gradient is needed.

    Every node comes before the nodes that produced its inputs, so running them in
    this order sees each node's output gradient complete. Iterative (no recursion
    limit on deep graphs) and deterministic (inputs are visited in order).
    """
    if root is None:
        return []
    order = []
    visited = {id(root)}
    stack = [(root, 0)]
    while stack:
        node, i = stack[-1]
        if i < len(node.parents):
            stack[-1] = (node, i + 1)
            parent = node.parents[i]
            if parent is not None and node.needs_input_grad[i] and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, 0))
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order
