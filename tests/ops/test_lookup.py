"""embedding: gradients (repeated indices add up), torch's F.embedding as oracle, only
the indices saved, frozen rows skipped by the scatter, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op


@pytest.mark.parametrize("idx_shape", [(5,), (2, 3), (2, 1, 4), (0,)])
def test_embedding_gradients_and_torch(rng, torch, idx_shape):
    table = rng.standard_normal((6, 3))
    indices = rng.integers(0, 6, size=idx_shape)

    def fn(idx, t):
        return ops.embedding(idx, t)

    def torch_fn(idx, t):
        return torch.nn.functional.embedding(idx, t)

    report = check_op(fn, indices, table, torch_fn=torch_fn)
    full = report.traces[()]
    assert full.saved_bytes == indices.nbytes  # the indices, never the table
    assert full.ran(kernel="gather", pass_="forward")
    assert full.ran(kernel="scatter_add", pass_="backward_weight")[0].work == indices.size * 3


def test_repeated_indices_add_up():
    table = pyfrozen.tensor(np.zeros((4, 2)), requires_grad=True)
    out = ops.embedding(np.array([[1, 1], [3, 1]]), table)
    assert out.shape == (2, 2, 2)
    out.backward(np.ones((2, 2, 2)))
    np.testing.assert_array_equal(table.grad.data, [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_forward_values_any_integer_dtype_and_tensor_indices(rng):
    table = pyfrozen.tensor(rng.standard_normal((5, 4)), dtype=np.float32)
    idx = np.array([[4, 0], [2, 2]])
    want = table.data[idx]
    for form in (idx, idx.astype(np.int32), idx.astype(np.uint8), idx.tolist(),
                 pyfrozen.tensor(idx)):
        out = ops.embedding(form, table)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out.data, want)
    np.testing.assert_array_equal(ops.embedding(idx, table.data).data, want)  # array table


def test_frozen_table_records_and_saves_nothing(rng):
    table = pyfrozen.Parameter(rng.standard_normal((5, 2)), trainable=False)
    with trace() as tr:
        out = ops.embedding([0, 4, 4], table)
    assert not out.requires_grad and tr.nodes == 0 and tr.saved_bytes == 0


@pytest.mark.parametrize("how", ["axis0", "column_mask", "trainable_index"])
def test_frozen_rows_cost_nothing_in_the_scatter(rng, how):
    v, d = 8, 5
    data = rng.standard_normal((v, d))
    frozen = np.zeros(v, bool)
    frozen[[0, 2, 3, 7]] = True
    idx = np.array([[0, 1, 2, 3], [7, 7, 4, 1], [5, 6, 0, 2]])
    dy = rng.standard_normal((*idx.shape, d))

    free = pyfrozen.Parameter(data.copy())
    masked = pyfrozen.Parameter(data.copy())
    if how == "axis0":
        masked.set_freeze_mask(frozen, axis=0)
    elif how == "column_mask":
        masked.set_freeze_mask(frozen[:, None])  # (V, 1) broadcasts along the rows
    else:
        masked = pyfrozen.Parameter(data.copy(), freeze_mask=frozen[:, None])
    np.testing.assert_array_equal(masked.trainable_index(0), np.flatnonzero(~frozen))

    works = []
    for p in (free, masked):
        with trace() as tr:
            ops.embedding(idx, p).backward(dy)
        (record,) = tr.ran(kernel="scatter_add", pass_="backward_weight")
        works.append(record.work)
    trainable_hits = int(np.count_nonzero(~frozen[idx]))
    assert works == [idx.size * d, trainable_hits * d]  # work shrinks to the trainable rows
    np.testing.assert_array_equal(masked.grad.data[frozen], 0)
    np.testing.assert_array_equal(masked.grad.data[~frozen], free.grad.data[~frozen])


def test_element_mask_gives_zero_gradient_without_row_pruning(rng):
    mask = np.zeros((4, 3), bool)
    mask[1, 2] = mask[3, 0] = True  # not whole rows: no pruning, the tape zeroes them
    p = pyfrozen.Parameter(rng.standard_normal((4, 3)), freeze_mask=mask)
    with trace() as tr:
        ops.embedding([1, 3, 3, 0], p).backward(np.ones((4, 3)))
    assert tr.ran(kernel="scatter_add")[0].work == 12
    hit = np.zeros((4, 3), bool)
    hit[[0, 1, 3]] = True  # row 2 is not looked up
    np.testing.assert_array_equal(p.grad.data[mask], 0)
    assert np.all(p.grad.data[hit & ~mask] != 0) and np.all(p.grad.data[~hit] == 0)


def test_in_place_change_of_the_table_after_forward_is_allowed(rng):
    # The table is not saved, so changing it between forward and backward is fine.
    table = pyfrozen.Parameter(rng.standard_normal((3, 2)))
    out = ops.embedding([2, 0], table)
    with pyfrozen.no_grad():
        table.data[...] = 0
        table._bump_version()
    out.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(table.grad.data, [[1, 1], [0, 0], [1, 1]])


def test_embedding_errors(rng):
    table = pyfrozen.tensor(rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match=r"gather_rows: index 4 .*4|index 4"):
        ops.embedding([0, 4], table)
    with pytest.raises(ValueError, match=r"index -1"):
        ops.embedding([[-1]], table)
    with pytest.raises(TypeError, match=r"embedding: indices must be integers, got float64"):
        ops.embedding(np.array([0.0, 1.0]), table)
    with pytest.raises(TypeError, match=r"embedding: indices must be integers, got bool"):
        ops.embedding(np.array([True]), table)
    with pytest.raises(ValueError, match=r"embedding: table must be 2-D \(rows, dim\), got "
                                         r"shape \(4,\)"):
        ops.embedding([0], pyfrozen.tensor(np.zeros(4)))
    with pytest.raises(TypeError, match=r"embedding: table must be float32 or float64"):
        ops.embedding([0], pyfrozen.tensor(np.zeros((2, 2), np.int64)))
    with pytest.raises(TypeError, match=r"embedding: table must be a Tensor, got list"):
        ops.embedding([0], [[0.0, 1.0]])


def test_no_grad_records_nothing_for_a_masked_table(rng):
    p = pyfrozen.Parameter(rng.standard_normal((4, 2)))
    p.set_freeze_mask(np.array([True, False, False, True]), axis=0)
    with pyfrozen.no_grad(), trace() as tr:
        out = ops.embedding([0, 1], p)
    assert not out.requires_grad and tr.nodes == 0 and tr.saved_bytes == 0
