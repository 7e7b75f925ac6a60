"""The backward sweep: accumulation, freeing, version checks, errors (grad modes:
test_grad_mode.py; user-defined Functions: test_function.py)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import pyfrozen
from pyfrozen import Parameter
from pyfrozen.autograd import trace


def leaf(values, **kw):
    return pyfrozen.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, **kw)


def test_gradients_accumulate_until_reset():
    x = leaf([1.0, 2.0])
    for _ in range(2):
        (x * x).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])
    x.grad = None
    (x * 3.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_tensor_used_twice_sums_both_paths():
    x = leaf([3.0])
    y = x * x + x  # d/dx = 2x + 1
    y.backward()
    assert x.grad.item() == 7.0


def test_leaf_gradients_never_alias():
    a, b = leaf([1.0]), leaf([2.0])
    dy = np.array([5.0])
    (a + b).backward(dy)
    a.grad.data[0] = 0.0
    assert b.grad.item() == 5.0 and dy[0] == 5.0  # neither b's grad nor the caller's array


def test_leaf_gradient_never_aliases_a_pending_node_gradient():
    # add hands the same dy to leaf a and to node b; a's .grad must not be that array,
    # or the later in-place accumulation from a * b corrupts b's pending gradient.
    a, c = leaf([1.0, 2.0, 3.0]), leaf([0.5, -1.0, 2.0])
    b = c * 3.0
    out = (a * b + (a + b) * 2.0).sum()
    out.backward()
    np.testing.assert_array_equal(a.grad.data, 3.0 * c.data + 2.0)
    np.testing.assert_array_equal(c.grad.data, 3.0 * (a.data + 2.0))


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        pyfrozen.tensor([1.0]).backward()
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match="one-element tensor"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad float64 \(3,\) does not match"):
        y.backward(np.ones(3))


def test_second_backward_needs_retain_graph():
    x = leaf([2.0])
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_saved_arrays_are_freed_after_backward():
    x, w = leaf(np.ones(3)), leaf(np.ones(3))
    y = x * w
    node = y._node
    assert len(node.saved) == 2
    y.backward(np.ones(3))
    assert node.saved == () and node.fn is None


def test_in_place_change_of_a_saved_input_is_detected():
    x, w = leaf([1.0]), pyfrozen.tensor([2.0], dtype=np.float64)
    y = x * w  # saves w for x's gradient
    w.fill_(3.0)
    with pytest.raises(RuntimeError, match="modified in place.*version 1, saved at version 0"):
        y.backward()


@pytest.mark.parametrize("shape", [(2, 3), (2, 2, 3)])
def test_in_place_change_of_an_input_saved_as_a_view_is_detected(shape):
    x = pyfrozen.tensor(np.ones(shape))
    w = Parameter(np.ones((3, 4)))
    y = pyfrozen.ops.dense(x, w)  # keeps x reshaped to rows (a view) for w's gradient
    x.fill_(5.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_in_place_change_of_a_saved_output_is_detected():
    a, b = leaf([1.0]), leaf([2.0])
    y = a / b  # keeps y for b's gradient
    with pyfrozen.no_grad():
        y.fill_(0.0)
    with pytest.raises(RuntimeError, match="div: an array saved for backward was modified"):
        y.backward()


def test_nodes_keep_arrays_not_tensors():
    x = leaf(np.ones(4))
    y = x * 2.0
    z = y * y
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None  # no cycle keeps the intermediate Tensor alive
    z.backward(np.ones(4))
    np.testing.assert_array_equal(x.grad.data, 8 * np.ones(4))


def test_frozen_branch_is_never_visited():
    x = leaf([1.0])
    frozen = pyfrozen.tensor([2.0], dtype=np.float64)
    with trace() as t:
        a = frozen * 3.0  # not recorded: no input needs grad
        y = x * a
        y.backward()
    assert a.grad_fn is None
    assert [(r.op, r.pass_) for r in t.kernels if r.pass_ != "forward"] == [
        ("mul", "backward_input")]


def test_deep_graph_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(20_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_masked_parameter_gets_exact_zeros_and_accumulates():
    p = Parameter(np.array([1.0, 2.0, 3.0]), freeze_mask=np.array([False, True, False]))
    for _ in range(2):
        (p * 5.0).backward(np.ones(3))
    np.testing.assert_array_equal(p.grad.data, [10.0, 0.0, 10.0])


def test_backward_on_a_leaf_copies_the_gradient():
    x = leaf([1.0, 2.0])
    g = np.array([3.0, 4.0])
    x.backward(g)
    g[0] = 0.0
    assert x.grad.tolist() == [3.0, 4.0]


def test_a_freeze_mask_changed_before_backward_is_an_error_not_half_applied():
    x = pyfrozen.tensor(np.ones((2, 3)))
    w = Parameter(np.ones((3, 4)), freeze_mask=np.array([True, True, False, False]))
    y = pyfrozen.ops.dense(x, w)  # the weight-gradient kernel is limited to columns 2, 3
    w.set_freeze_mask(None)
    with pytest.raises(RuntimeError, match="freeze mask of parameter .* changed between"):
        y.backward(np.ones((2, 4)))
    w.trainable = False  # toggling trainable keeps the mask: no false alarm
    w.trainable = True
    y = pyfrozen.ops.dense(x, w)
    w.trainable = False
    w.trainable = True
    y.backward(np.ones((2, 4)))
    np.testing.assert_array_equal(w.grad.data, np.full((3, 4), 2.0))
