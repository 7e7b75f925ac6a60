"""GEMM through the binding: results against numpy in float64, every path."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import pyfrozen
from pyfrozen import gemm

# Sizes that hit every edge: empty, 1, primes, around the 6x16 / 6x8 micro-tiles (the
# 12x32 / 12x16 AVX-512 ones: test_every_row_count_and_column_tail_of_each_tile),
# around the small-M threshold (64), and past a KC block (~250).
EDGE_SIZES = [0, 1, 2, 5, 6, 7, 13, 16, 17, 31, 64, 65, 97, 257]


def reference(a, b, trans_a, trans_b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)


def operands(rng, m, k, n, trans_a, trans_b, dtype):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def assert_close(got, want, k, dtype):
    # Rounding error of a length-k dot product grows ~sqrt(k) with random signs.
    eps = np.finfo(dtype).eps
    tol = 8 * eps * np.sqrt(max(k, 1)) * max(1.0, np.abs(want).max(initial=0.0))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_random_shapes_match_numpy(rng, isa, threads, dtype, trans_a, trans_b):
    shapes = [
        (m, k, n) for m in EDGE_SIZES[::3] for k in EDGE_SIZES[1::3] for n in EDGE_SIZES[2::3]
    ]
    shapes += [tuple(rng.integers(1, 300, size=3)) for _ in range(6)]
    shapes += [(32, 300, 1000), (200, 520, 300)]  # small-M path; several KC blocks
    for m, k, n in shapes:
        a, b = operands(rng, m, k, n, trans_a, trans_b, dtype)
        got = gemm(a, b, trans_a=trans_a, trans_b=trans_b)
        assert got.shape == (m, n) and got.dtype == dtype
        assert_close(got, reference(a, b, trans_a, trans_b), k, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
def test_every_row_count_and_column_tail_of_each_tile(rng, isa, dtype, trans_a):
    # Every row count of one and two micro-tiles (6 rows on AVX2 and generic, 12 on
    # AVX-512), small-M (A in place or packed per K block) and general (m > 64), against
    # column counts on each side of one and two vectors of each path (8/16/32 floats,
    # 4/8/16 doubles), a K tail of packing's 8-column blocks, and more than one K block.
    for m in list(range(1, 26)) + list(range(65, 90, 3)):
        for n in (1, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65, 97):
            for k in (9, 300):
                a, b = operands(rng, m, k, n, trans_a, False, dtype)
                got = gemm(a, b, trans_a=trans_a)
                assert_close(got, reference(a, b, trans_a, False), k, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_b_packs_every_column_tail(rng, isa, dtype):
    # B stored n x k (dX = dY W^T) is packed 8 columns of op(B) at a time, then one by
    # one: column counts around each group and panel width (8/16/32 floats, 4/8/16
    # doubles), a wider parent (ldb), one and several K blocks, on the general path.
    for n in (1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 65, 97):
        for k in (9, 300, 777):
            parent = rng.standard_normal((n, k + 5)).astype(dtype)
            b = parent[:, 3:3 + k]
            a = rng.standard_normal((70, k)).astype(dtype)
            got = gemm(a, b, trans_b=True)
            assert_close(got, reference(a, b, False, True), k, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_row_major_a_with_every_tail(rng, isa, dtype):
    # The general path packs row-major A into 6-row micro-panels (AVX2 float: 6x8 blocks
    # transposed in registers, then the k tail one value at a time; a short last panel
    # by the portable code). Rows and columns past each block, and a wider parent (lda).
    for m, k in [(67, 7), (67, 8), (70, 9), (101, 250), (66, 1155)]:
        parent = rng.standard_normal((m, k + 13)).astype(dtype)
        a = parent[:, 5:5 + k]
        b = rng.standard_normal((k, 80)).astype(dtype)
        assert_close(gemm(a, b), reference(a, b, False, False), k, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_square_with_threads(rng, isa, threads, dtype):
    a, b = operands(rng, 600, 700, 650, False, False, dtype)
    assert_close(gemm(a, b), reference(a, b, False, False), 700, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alpha_beta(rng, isa, dtype):
    a, b = operands(rng, 70, 33, 40, False, False, dtype)
    c0 = rng.standard_normal((70, 40)).astype(dtype)
    out = c0.copy()
    res = gemm(a, b, out, alpha=-0.5, beta=2.0)
    assert res is out
    assert_close(out, -0.5 * reference(a, b, False, False) + 2.0 * c0, 33, dtype)


@pytest.mark.parametrize("m", [3, 70])  # small-M and packed paths
def test_beta_zero_never_reads_out(rng, isa, m):
    a, b = operands(rng, m, 20, 35, False, False, np.float32)
    out = np.full((m, 35), np.nan, np.float32)
    gemm(a, b, out)
    assert np.isfinite(out).all()
    assert_close(out, reference(a, b, False, False), 20, np.float32)


def test_alpha_zero_and_k_zero_scale_out(rng):
    out = np.ones((4, 5))
    a = np.full((4, 3), np.nan)
    b = np.full((3, 5), np.nan)
    gemm(a, b, out, alpha=0.0, beta=3.0)  # A and B are not read when alpha == 0
    np.testing.assert_array_equal(out, 3.0)
    gemm(np.empty((4, 0)), np.empty((0, 5)), out, beta=0.0)
    np.testing.assert_array_equal(out, 0.0)


def test_strided_leading_dimensions_and_views(rng, isa):
    big_a = rng.standard_normal((50, 80))
    big_b = rng.standard_normal((90, 70))
    a = big_a[3:40, 5:60]  # ld 80 > 55 columns
    b = big_b[:55, 2:69]
    out_big = np.zeros((60, 100))
    out = out_big[10:47, 20:87]
    gemm(a, b, out)
    assert_close(out, a @ b, 55, np.float64)
    assert np.all(out_big[:10] == 0) and np.all(out_big[:, :20] == 0), "wrote outside out"
    # Transposed views (unit stride on axis 0) are read in place as transposes.
    at = np.ascontiguousarray(a.T).T
    assert not at.flags.c_contiguous
    assert_close(gemm(at, b), a @ b, 55, np.float64)
    a2, b2 = a[:, :50], b.T[:, :50]
    assert_close(gemm(a2, b2, trans_b=True), a2 @ b2.T, 50, np.float64)


def test_fortran_ordered_out(rng, isa):
    a, b = operands(rng, 40, 30, 50, False, False, np.float64)
    out = np.empty((40, 50), order="F")
    res = gemm(a, b, out)
    assert res is out
    assert_close(out, a @ b, 30, np.float64)


def test_out_is_written_in_place_without_copy(rng):
    a, b = operands(rng, 8, 4, 6, False, False, np.float32)
    out = np.empty((8, 6), np.float32)
    res = gemm(a, b, out=out)
    assert res is out
    assert np.shares_memory(res, out)


def test_isa_paths_agree(rng):
    a, b = operands(rng, 130, 300, 140, True, False, np.float32)
    results = {}
    for name in pyfrozen.supported_isas():
        pyfrozen.set_isa(name)
        results[name] = gemm(a, b, trans_a=True)
    pyfrozen.set_isa(pyfrozen.detected_isa())
    want = reference(a, b, True, False)
    for got in results.values():
        assert_close(got, want, 300, np.float32)


def test_gil_is_released(rng):
    # While one thread multiplies, another must be able to run Python code.
    a = rng.standard_normal((1500, 1500))
    b = rng.standard_normal((1500, 1500))
    started = threading.Event()
    ticks = 0

    def work():
        started.set()
        for _ in range(3):
            gemm(a, b)

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    while t.is_alive():
        ticks += 1
        threading.Event().wait(0.001)
    t.join()
    assert ticks > 10, "the main thread could not run while gemm ran: GIL held?"


def test_concurrent_calls_from_threads(rng):
    # Two Python threads in gemm at once (GIL released) use separate scratch buffers.
    pairs = [operands(rng, 150, 260, 170, False, False, np.float64) for _ in range(4)]
    results = [None] * 4

    def work(i):
        for _ in range(3):
            results[i] = gemm(*pairs[i])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for (a, b), got in zip(pairs, results, strict=True):
        assert_close(got, a @ b, 260, np.float64)


def test_matches_torch(rng, torch):
    a, b = operands(rng, 45, 77, 91, False, True, np.float64)
    want = torch.from_numpy(a) @ torch.from_numpy(b).T
    np.testing.assert_allclose(gemm(a, b, trans_b=True), want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("shape", [(32, 3000, 40), (7, 2100, 5), (64, 2500, 128)])
def test_long_k_small_output_splits_k_across_threads(rng, isa, threads, trans_a, shape):
    # With 2 threads these take the split-K path: private partial C per thread, summed
    # into C at the end (beta applied once, C read only when beta != 0).
    m, k, n = shape
    a, b = operands(rng, m, k, n, trans_a, False, np.float64)
    c0 = rng.standard_normal((m, n))
    out = c0.copy()
    gemm(a, b, out, trans_a=trans_a, alpha=0.5, beta=-1.0)
    assert_close(out, 0.5 * reference(a, b, trans_a, False) - c0, k, np.float64)
    out = np.full((m, n), np.nan)
    gemm(a, b, out, trans_a=trans_a)
    assert_close(out, reference(a, b, trans_a, False), k, np.float64)
