"""Dense helpers through the binding: column/row-limited weight gradients against numpy
and torch autograd (the rest of dW untouched, less work counted), and embedding gather /
scatter-add against numpy and torch.nn.functional.embedding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core

SENTINEL = -1234.5  # dW elements outside the listed columns/rows must keep it


def assert_close(got, want, k, dtype):
    eps = np.finfo(dtype).eps
    tol = 8 * eps * np.sqrt(max(k, 1)) * max(1.0, np.abs(want).max(initial=0.0))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def index_sets(rng, size):
    """Index lists exercising both paths: long runs (gemm per run) and scattered ones
    (packed into one gemm), plus the edges."""
    sets = [np.arange(size), np.arange(0), np.array([size - 1]), np.arange(0, size, 2),
            np.sort(rng.choice(size, size // 3 + 1, replace=False))]
    if size >= 40:
        sets.append(np.r_[np.arange(3, 25), np.arange(30, size)])  # two long runs
    return [s.astype(np.int64) for s in sets]


def operands(rng, n, fan_in, fan_out, dtype):
    x = rng.standard_normal((n, fan_in)).astype(dtype)
    dy = rng.standard_normal((n, fan_out)).astype(dtype)
    return x, dy


# ---- dense_backward_weight ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (33, 17, 70), (0, 4, 6), (256, 70, 130)])
def test_columns_match_full_product(rng, isa, threads, dtype, shape):
    n, fan_in, fan_out = shape
    x, dy = operands(rng, n, fan_in, fan_out, dtype)
    full = x.astype(np.float64).T @ dy.astype(np.float64)
    for cols in index_sets(rng, fan_out):
        dw = np.full((fan_in, fan_out), SENTINEL, dtype)
        assert _core.dense_backward_weight(x, dy, dw, columns=cols) is dw
        assert_close(dw[:, cols], full[:, cols], n, dtype)
        others = np.setdiff1d(np.arange(fan_out), cols)
        assert (dw[:, others] == SENTINEL).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (33, 70, 17), (0, 6, 4), (256, 130, 70)])
def test_rows_match_full_product(rng, isa, threads, dtype, shape):
    n, fan_in, fan_out = shape
    x, dy = operands(rng, n, fan_in, fan_out, dtype)
    full = x.astype(np.float64).T @ dy.astype(np.float64)
    for rows in index_sets(rng, fan_in):
        dw = np.full((fan_in, fan_out), SENTINEL, dtype)
        _core.dense_backward_weight(x, dy, dw, rows=rows)
        assert_close(dw[rows], full[rows], n, dtype)
        others = np.setdiff1d(np.arange(fan_in), rows)
        assert (dw[others] == SENTINEL).all()


@pytest.mark.parametrize("limit", ["columns", "rows", None])
def test_accumulate_adds_to_dw(rng, isa, limit):
    x, dy = operands(rng, 20, 9, 40, np.float64)
    dw0 = rng.standard_normal((9, 40))
    idx = {"columns": np.array([0, 3, 5, 39]), "rows": np.array([1, 2, 8]), None: None}[limit]
    kw = {limit: idx} if limit else {}
    dw = dw0.copy()
    _core.dense_backward_weight(x, dy, dw, accumulate=True, **kw)
    want = dw0 + x.T @ dy
    sel = (slice(None), idx) if limit == "columns" else (idx if limit == "rows" else ...)
    np.testing.assert_allclose(dw[sel], want[sel], rtol=1e-12)
    untouched = np.ones_like(dw, bool)
    untouched[sel] = False
    assert (dw[untouched] == dw0[untouched]).all()


def test_full_product_by_default(rng):
    x, dy = operands(rng, 11, 6, 9, np.float32)
    dw = np.full((6, 9), np.nan, np.float32)  # never read without accumulate
    _core.dense_backward_weight(x, dy, dw)
    assert_close(dw, x.astype(np.float64).T @ dy, 11, np.float32)


def test_counter_shows_less_work_than_full(rng):
    x, dy = operands(rng, 16, 10, 30, np.float32)
    dw = np.zeros((10, 30), np.float32)
    _core.reset_kernel_counts()
    _core.dense_backward_weight(x, dy, dw)
    _core.dense_backward_weight(x, dy, dw, columns=np.array([1, 4, 5, 6], np.int64))
    _core.dense_backward_weight(x, dy, dw, rows=np.array([2, 3], np.int64))
    counts = [c for c in _core.kernel_counts() if c[0] == "dense"]
    assert counts == [("dense", "backward_weight", 3, 16 * 10 * 30 + 16 * 10 * 4 + 16 * 2 * 30)]


@pytest.mark.parametrize("limit", ["columns", "rows"])
def test_matches_torch_autograd(torch, rng, limit):
    # Keras's Dense kernel is (in, out): y = x @ W, so dW = x.T @ dy.
    x, dy = operands(rng, 12, 7, 9, np.float64)
    w = torch.zeros((7, 9), dtype=torch.float64, requires_grad=True)
    (torch.from_numpy(x) @ w).backward(torch.from_numpy(dy))
    idx = np.array([0, 2, 3, 4, 6], np.int64)
    dw = np.zeros((7, 9))
    _core.dense_backward_weight(x, dy, dw, **{limit: idx})
    sel = (slice(None), idx) if limit == "columns" else idx
    np.testing.assert_allclose(dw[sel], w.grad.numpy()[sel], rtol=1e-12, atol=1e-13)


def test_dense_checks():
    x, dy = np.ones((4, 3), np.float32), np.ones((4, 5), np.float32)
    dw = np.zeros((3, 5), np.float32)
    op = _core.dense_backward_weight
    with pytest.raises(ValueError, match=r"x has 4 rows but dy has 2 \(x \(4, 3\), dy \(2, 5\)\)"):
        op(x, dy[:2], dw)
    with pytest.raises(ValueError, match=r"dw must have shape \(3, 5\) \(x \(4, 3\), dy \(4, 5"):
        op(x, dy, np.zeros((5, 3), np.float32))
    with pytest.raises(TypeError, match=r"dy must be float32 like the other arguments"):
        op(x, dy.astype(np.float64), dw)
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got shape \(12,\)"):
        op(x.ravel(), dy, dw)
    with pytest.raises(ValueError, match=r"pass columns or rows, not both"):
        op(x, dy, dw, columns=np.array([0]), rows=np.array([0]))
    with pytest.raises(ValueError, match=r"columns\[1\] = 5 is out of range for out = 5"):
        op(x, dy, dw, columns=np.array([0, 5]))
    with pytest.raises(ValueError, match=r"rows\[0\] = -1 is out of range for in = 3"):
        op(x, dy, dw, rows=np.array([-1]))
    with pytest.raises(ValueError, match=r"columns must be strictly increasing, but columns\[2\] "
                                         r"= 1 follows 3"):
        op(x, dy, dw, columns=np.array([0, 3, 1]))
    with pytest.raises(ValueError, match=r"rows must be strictly increasing, but rows\[1\] = 2"):
        op(x, dy, dw, rows=np.array([2, 2]))
    with pytest.raises(TypeError, match=r"columns must be int64, got int32"):
        op(x, dy, dw, columns=np.array([0], np.int32))
    with pytest.raises(ValueError, match=r"rows must have 1 dimension\(s\), got shape \(1, 1\)"):
        op(x, dy, dw, rows=np.array([[0]]))
    ro = dw.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"dw is read-only"):
        op(x, dy, ro)
    buf = np.zeros(30, np.float32)
    with pytest.raises(ValueError, match=r"dw \(3, 5\) overlaps dy"):
        op(np.ones((3, 3), np.float32), buf[:15].reshape(3, 5), buf[10:25].reshape(3, 5))
    assert (dw == 0).all()


# ---- gather_rows / scatter_add_rows --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("idx_shape", [(0,), (1,), (13,), (4, 5), (300, 200)])
@pytest.mark.parametrize("dim", [1, 7, 64])
def test_gather_matches_numpy(rng, threads, dtype, idx_shape, dim):
    table = rng.standard_normal((50, dim)).astype(dtype)
    idx = rng.integers(0, 50, idx_shape).astype(np.int64)
    got = _core.gather_rows(table, idx)
    assert got.shape == idx_shape + (dim,) and got.dtype == dtype
    np.testing.assert_array_equal(got, table[idx])
    out = np.full(idx_shape + (dim,), np.nan, dtype)
    assert _core.gather_rows(table, idx, out) is out
    np.testing.assert_array_equal(out, table[idx])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dims", [(1, 1), (3, 7), (40, 5), (20, 200)])  # row and column split
def test_scatter_add_matches_numpy_and_is_deterministic(rng, dtype, dims):
    v, d = dims
    n = 40000 // d + 3  # enough elements that two threads run
    idx = rng.integers(0, v, (n,)).astype(np.int64)
    idx[:5] = 0  # duplicates must add up
    grad = rng.standard_normal((n, d)).astype(dtype)
    start = rng.standard_normal((v, d)).astype(dtype)
    want = start.astype(np.float64)
    np.add.at(want, idx, grad.astype(np.float64))
    results = []
    before = pyfrozen.get_num_threads()
    try:
        for nt in (1, 2):
            pyfrozen.set_num_threads(nt)
            dtable = start.copy()
            assert _core.scatter_add_rows(grad, idx, dtable) is dtable
            results.append(dtable)
    finally:
        pyfrozen.set_num_threads(before)
    assert_close(results[0], want, n, dtype)
    # Each element sums in index order whatever the thread count: bit-identical.
    assert results[0].tobytes() == results[1].tobytes()


def test_scatter_add_index_order_matches_numpy_add_at(rng):
    # np.add.at also adds in index order: float32 results are then identical, bit for bit.
    idx = rng.integers(0, 4, (2000,)).astype(np.int64)
    grad = rng.standard_normal((2000, 3)).astype(np.float32)
    want = np.zeros((4, 3), np.float32)
    np.add.at(want, idx, grad)
    got = _core.scatter_add_rows(grad, idx, np.zeros((4, 3), np.float32))
    assert got.tobytes() == want.tobytes()


def test_scatter_add_multi_dim_indices_and_frozen_rows(rng, threads):
    v, d = 30, 9
    idx = rng.integers(0, v, (50, 80)).astype(np.int64)
    grad = rng.standard_normal((50, 80, d))
    frozen = np.zeros(v, bool)
    frozen[::3] = True
    dtable = np.full((v, d), np.nan)
    dtable[~frozen] = 0.0
    _core.reset_kernel_counts()
    _core.scatter_add_rows(grad, idx, dtable, frozen_rows=frozen)
    want = np.zeros((v, d))
    np.add.at(want, idx, grad)
    np.testing.assert_allclose(dtable[~frozen], want[~frozen], rtol=1e-12, atol=1e-12)
    assert np.isnan(dtable[frozen]).all()  # frozen rows untouched (NaN stays NaN)
    added = int((~frozen[idx]).sum()) * d
    assert [c for c in _core.kernel_counts() if c[0] == "scatter_add"] == [
        ("scatter_add", "backward_weight", 1, added)]
    assert added < idx.size * d


def test_gather_and_scatter_match_torch_embedding(torch, rng):
    table = rng.standard_normal((12, 5))
    idx = rng.integers(0, 12, (6, 4)).astype(np.int64)
    weight = torch.tensor(table, requires_grad=True)
    y = torch.nn.functional.embedding(torch.from_numpy(idx), weight)
    dy = rng.standard_normal((6, 4, 5))
    y.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(_core.gather_rows(table, idx), y.detach().numpy())
    dtable = _core.scatter_add_rows(dy, idx, np.zeros((12, 5)))
    np.testing.assert_allclose(dtable, weight.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_gather_scatter_counters(rng):
    table = np.zeros((10, 4), np.float32)
    idx = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
    _core.reset_kernel_counts()
    _core.gather_rows(table, idx)
    _core.scatter_add_rows(np.ones((2, 3, 4), np.float32), idx, table)
    assert _core.kernel_counts() == [("gather", "forward", 1, 24),
                                     ("scatter_add", "backward_weight", 1, 24)]


def test_embedding_checks():
    table = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match=r"gather_rows: index 10 at indices\[2\] is out of range "
                                         r"for a table of 10 rows"):
        _core.gather_rows(table, np.array([0, 1, 10], np.int64))
    with pytest.raises(ValueError, match=r"index -1 at indices\[0\] is out of range for a table "
                                         r"of 10 rows"):
        _core.gather_rows(table, np.array([-1], np.int64))
    with pytest.raises(TypeError, match=r"indices must be int64, got int32"):
        _core.gather_rows(table, np.array([0], np.int32))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 4\)"):
        _core.gather_rows(table, np.array([0, 1], np.int64), np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"out \(10, 4\) overlaps table"):
        _core.gather_rows(table, np.zeros(10, np.int64), table)
    with pytest.raises(ValueError, match=r"table must have 2 dimensions"):
        _core.gather_rows(np.zeros(4, np.float32), np.array([0], np.int64))
    dtable = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match=r"scatter_add_rows: index 11 at indices\[1\] is out of "
                                         r"range for a table of 10 rows"):
        _core.scatter_add_rows(np.ones((2, 4), np.float32), np.array([3, 11], np.int64), dtable)
    assert (dtable == 0).all()  # nothing written before the index check failed
    with pytest.raises(ValueError, match=r"grad must have shape \(2, 4\)"):
        _core.scatter_add_rows(np.ones((2, 3), np.float32), np.array([0, 1], np.int64), dtable)
    with pytest.raises(TypeError, match=r"dtable must be float64 like the other arguments, got "
                                        r"float32"):
        _core.scatter_add_rows(np.ones((1, 4)), np.array([0], np.int64), dtable)
    with pytest.raises(TypeError, match=r"frozen_rows must be bool or uint8"):
        _core.scatter_add_rows(np.ones((1, 4), np.float32), np.array([0], np.int64), dtable,
                               frozen_rows=np.zeros(10, np.int8))
    with pytest.raises(ValueError, match=r"frozen_rows must have shape \(10,\)"):
        _core.scatter_add_rows(np.ones((1, 4), np.float32), np.array([0], np.int64), dtable,
                               frozen_rows=np.zeros(9, bool))
    with pytest.raises(ValueError, match=r"dtable \(10, 4\) overlaps grad"):
        _core.scatter_add_rows(dtable[:1], np.array([0], np.int64), dtable)
    ro = dtable.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"dtable is read-only"):
        _core.scatter_add_rows(np.ones((1, 4), np.float32), np.array([0], np.int64), ro)


def test_fuzzed_calls_never_crash(tmp_path):
    fuzz = Path(__file__).with_name("fuzz_dense_calls.py")
    cmd = [sys.executable, "-m", "pytest", str(fuzz), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "-o", "addopts=", "-W", "error"]
    # cwd outside the checkout, so the installed pyfrozen is imported, not the sources.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"fuzz exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "2 passed" in proc.stdout
