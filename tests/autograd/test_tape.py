"""The tape's compiled core: node records and the reverse topological walk."""

from __future__ import annotations

import importlib.machinery

import numpy as np
import pytest

from pyfrozen.autograd import tape
from pyfrozen.autograd.tape import Node, reverse_topological_order


def test_compiled_module_not_python_fallback():
    assert tape.COMPILED is True
    assert tape.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    # A cdef class from tape.pxd: the fixed fields are C slots, not dict entries.
    node = Node("n", (), ())
    node.stride = 2  # ops may add attributes of their own
    assert "name" not in node.__dict__ and node.__dict__ == {"stride": 2}
    assert type(Node).__name__ == "type" and not hasattr(Node, "__slots__")


def test_diamond_order_puts_each_node_before_its_inputs():
    a = Node("a", (), ())
    b = Node("b", (a,), (True,))
    c = Node("c", (a,), (True,))
    d = Node("d", (b, c), (True, True))
    order = reverse_topological_order(d)
    assert [n.name for n in order] == ["d", "c", "b", "a"]
    pos = {n.name: i for i, n in enumerate(order)}
    assert pos["d"] < pos["b"] < pos["a"] and pos["c"] < pos["a"]


def test_walk_skips_inputs_whose_gradient_is_not_needed():
    frozen_branch = Node("frozen", (), ())
    trainable = Node("trainable", (), ())
    top = Node("top", (frozen_branch, trainable), (False, True))
    assert [n.name for n in reverse_topological_order(top)] == ["top", "trainable"]


def test_unrecorded_inputs_and_empty_root():
    top = Node("top", (None, None), (True, False))
    assert reverse_topological_order(top) == [top]
    assert reverse_topological_order(None) == []


def test_deep_chain_needs_no_recursion():
    node = Node("n0", (), ())
    for i in range(1, 200_000):
        node = Node(f"n{i}", (node,), (True,))
    order = reverse_topological_order(node)
    assert len(order) == 200_000 and order[0] is node and order[-1].name == "n0"


def test_release_drops_saved_arrays():
    n = Node("op", (), (), fn=object())
    n.save_for_backward(np.ones(3), None)
    assert len(n.saved) == 2 and n.saved_bytes == 24
    n.release()
    assert n.saved == () and n.fn is None and n.counted == ()


def test_mismatched_flags_are_an_error():
    with pytest.raises(ValueError, match="2 parents but 1 needs_input_grad"):
        Node("bad", (None, None), (True,))
