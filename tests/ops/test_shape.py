"""Shape ops: reshape, transpose, concat, getitem."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.testing import check_op

# ---------------------------------------------------------------------------------------
# reshape
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (-1,), (4, -1, 2), (24,), (2, 3, 4, 1)], ids=str)
def test_reshape_against_torch(shape, rng, torch):
    x = rng.standard_normal((2, 3, 4))
    report = check_op(lambda t: ops.reshape(t, shape), x,
                      torch_fn=lambda t: t.reshape(shape))
    assert report.traces[()].saved_bytes == 0


def test_reshape_is_a_view_sharing_the_version_counter():
    x = pyfrozen.tensor(np.arange(6.0), requires_grad=True)
    y = x.reshape(2, 3)
    assert np.shares_memory(y.numpy(), x.numpy()) and y._version is x._version
    assert x.reshape((3, 2)).shape == (3, 2) and x.reshape(-1).shape == (6,)


def test_reshape_of_a_strided_tensor_copies(rng, torch):
    x = rng.standard_normal((3, 4))
    check_op(lambda t: t.T.reshape(12) * 2.0, x, torch_fn=lambda t: t.T.reshape(12) * 2.0)
    t = pyfrozen.tensor(x).T
    y = ops.reshape(t, 12)
    assert not np.shares_memory(y.numpy(), t.numpy()) and y._version is not t._version


def test_reshape_errors_name_both_shapes():
    x = pyfrozen.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: .*shape \(2, 3\) .* into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\) .* into shape \(-1, -1\)"):
        x.reshape(-1, -1)
    with pytest.raises(TypeError, match="reshape: shape must hold integers"):
        x.reshape(2.0, 3)


def test_reshape_of_integer_tensors_records_nothing():
    y = ops.reshape(pyfrozen.tensor(np.arange(6)), (2, 3))
    assert y.dtype == np.int64 and y.grad_fn is None


# ---------------------------------------------------------------------------------------
# transpose
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)], ids=str)
def test_transpose_against_torch(axes, rng, torch):
    x = rng.standard_normal((2, 3, 4))
    perm = tuple(range(2, -1, -1)) if axes is None else axes
    report = check_op(lambda t: ops.transpose(t, axes), x, torch_fn=lambda t: t.permute(perm))
    assert report.traces[()].saved_bytes == 0


def test_transpose_method_forms_are_views(rng):
    x = pyfrozen.tensor(rng.standard_normal((2, 3, 4)))
    assert x.T.shape == (4, 3, 2) and x.transpose().shape == (4, 3, 2)
    assert x.transpose(1, 0, 2).shape == (3, 2, 4) and x.transpose((0, 2, 1)).shape == (2, 4, 3)
    y = x.T
    assert np.shares_memory(y.numpy(), x.numpy()) and y._version is x._version


def test_transpose_errors():
    x = pyfrozen.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\) are not a permutation of "
                                         r"the 2 axes of a tensor of shape \(2, 3\)"):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose(0, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose(0)
    with pytest.raises(TypeError, match="transpose: axes must be integers"):
        x.transpose(0.0, 1)


# ---------------------------------------------------------------------------------------
# concat
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_against_torch(axis, rng, torch):
    shapes = {0: [(1, 3, 2), (2, 3, 2), (1, 3, 2)], 1: [(2, 1, 2), (2, 3, 2), (2, 2, 2)],
              -1: [(2, 3, 1), (2, 3, 3), (2, 3, 2)]}[axis]
    arrays = [rng.standard_normal(s) for s in shapes]
    report = check_op(lambda *ts: ops.concat(ts, axis=axis), *arrays,
                      torch_fn=lambda *ts: torch.cat(ts, dim=axis))
    assert all(tr.saved_bytes == 0 for tr in report.traces.values())


def test_concat_of_one_tensor(rng, torch):
    check_op(lambda t: ops.concat([t]), rng.standard_normal((2, 2)),
             torch_fn=lambda t: torch.cat([t]))


def test_concat_errors():
    a = pyfrozen.tensor(np.ones((2, 3)))
    b = pyfrozen.tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"concat: shapes \[\(2, 3\), \(2, 4\)\] must agree on "
                                         r"every axis except axis 0"):
        ops.concat([a, b])
    with pytest.raises(ValueError, match=r"\[\(2, 3\), \(3,\)\]"):
        ops.concat([a, pyfrozen.tensor(np.ones(3))], axis=0)
    with pytest.raises(ValueError, match=r"concat: axis 2 is out of range for shapes"):
        ops.concat([a, a], axis=2)
    with pytest.raises(ValueError, match="concat: needs at least one tensor"):
        ops.concat([])
    with pytest.raises(TypeError, match=r"concat: .*float64 \(2, 3\), float32 \(2, 3\)"):
        ops.concat([a, a.astype(np.float32)])
    with pytest.raises(TypeError, match=r"float64 \(2, 3\), int64 \(2, 3\)"):
        ops.concat([a, pyfrozen.tensor(np.ones((2, 3), np.int64))])


# ---------------------------------------------------------------------------------------
# getitem
# ---------------------------------------------------------------------------------------

BASIC = [(slice(1, None), slice(None, None, 2)), (Ellipsis, 1), 0, (None, 1, slice(0, 2)),
         (1, 2)]


@pytest.mark.parametrize("index", BASIC, ids=str)
def test_basic_indexing_against_torch(index, rng, torch):
    x = rng.standard_normal((3, 4))
    report = check_op(lambda t: t[index], x, torch_fn=lambda t: t[index])
    assert report.traces[()].saved_bytes == 0


def test_basic_indexing_is_a_view(rng):
    x = pyfrozen.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = x[1:, ::2]
    assert np.shares_memory(y.numpy(), x.numpy()) and y._version is x._version
    z = x[[0, 2]]
    assert not np.shares_memory(z.numpy(), x.numpy()) and z._version is not x._version


def test_element_of_a_vector_is_a_0d_tensor():
    x = pyfrozen.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x[1]
    assert y.shape == () and isinstance(y.numpy(), np.ndarray)
    y.backward()
    assert x.grad.numpy().tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("index", [np.array([2, 0, 2, 2]), np.array([[0, 1], [1, 1]]),
                                   np.array([-1, 0])], ids=str)
def test_integer_array_indices_against_torch(index, rng, torch):
    # The index is an int64 input: check_op passes it as a constant Tensor.
    x = rng.standard_normal((3, 2))
    report = check_op(lambda t, i: t[i], x, index, torch_fn=lambda t, i: t[i])
    assert report.traces[()].saved_bytes == index.nbytes  # the index, never x
    check_op(lambda t, i: t[:, i], x, index % 2, torch_fn=lambda t, i: t[:, i])


def test_repeated_indices_accumulate():
    x = pyfrozen.tensor(np.zeros(4), requires_grad=True)
    x[[1, 1, 3, 1]].backward(np.array([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.numpy().tolist() == [0.0, 7.0, 0.0, 3.0]
    y = pyfrozen.tensor(np.zeros((2, 2)), requires_grad=True)
    y[[0, 0], [1, 1]].backward(np.ones(2))  # two advanced axes: pairs (0, 1) twice
    assert y.grad.numpy().tolist() == [[0.0, 2.0], [0.0, 0.0]]


def test_boolean_masks_against_torch(rng, torch):
    x = rng.standard_normal((3, 4))
    mask = x > 0.2
    check_op(lambda t, m: t[m], x, mask, torch_fn=lambda t, m: t[m])
    rows = np.array([True, False, True])
    check_op(lambda t: t[rows, 1:], x, torch_fn=lambda t: t[torch.tensor(rows), 1:])


def test_list_and_mixed_indices(rng, torch):
    x = rng.standard_normal((3, 4))
    check_op(lambda t: t[[0, 2], 1:3], x, torch_fn=lambda t: t[[0, 2], 1:3])
    check_op(lambda t: t[1:, [3, 0, 3]], x, torch_fn=lambda t: t[1:, [3, 0, 3]])


def test_getitem_errors():
    x = pyfrozen.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"getitem: .*out of bounds.*shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\)"):
        x[np.array([0, 3])]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\)"):
        x[np.array([True, False, True])]
    with pytest.raises(IndexError, match="getitem"):
        x[pyfrozen.tensor([0.5])]  # a float index
