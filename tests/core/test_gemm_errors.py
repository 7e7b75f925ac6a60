"""Bad calls to gemm raise TypeError/ValueError naming the argument and shapes."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import gemm

A = np.ones((3, 4), np.float32)
B = np.ones((4, 5), np.float32)


def test_dtype_mismatch_names_both():
    with pytest.raises(TypeError, match=r"same dtype, got float32 \(3, 4\) and float64 \(4, 5\)"):
        gemm(A, B.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex64, np.bool_])
def test_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match=r"gemm: a must be float32 or float64"):
        gemm(A.astype(dtype), B)


def test_non_native_byte_order_is_refused():
    with pytest.raises(TypeError, match="native byte order"):
        gemm(A.astype(">f4"), B)


def test_not_an_array():
    with pytest.raises(TypeError, match="gemm: b must be a numpy.ndarray, got list"):
        gemm(A, B.tolist())


@pytest.mark.parametrize("shape", [(12,), (3, 4, 1)])
def test_rank(shape):
    with pytest.raises(ValueError, match=r"gemm: a must be 2-D, got shape"):
        gemm(np.ones(shape, np.float32), B)


def test_inner_dimension_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"op\(a\) is \(3, 4\) but op\(b\) is \(5, 4\)"):
        gemm(A, B, trans_b=True)


def test_out_checks():
    with pytest.raises(ValueError, match=r"out must have shape \(3, 5\), got \(5, 3\)"):
        gemm(A, B, np.empty((5, 3), np.float32))
    with pytest.raises(TypeError, match="out must have the dtype of a and b"):
        gemm(A, B, np.empty((3, 5), np.float64))
    ro = np.empty((3, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        gemm(A, B, ro)


def test_out_overlapping_an_input():
    buf = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="out .* overlaps a"):
        gemm(buf[:, :2], np.ones((2, 2), np.float32), buf[:, 2:])


def test_non_unit_strides_are_refused_not_copied():
    big = np.ones((3, 8), np.float32)
    with pytest.raises(ValueError, match=r"unit stride along one axis .*ascontiguousarray"):
        gemm(big[:, ::2], B)


def test_beta_needs_out():
    with pytest.raises(ValueError, match="beta=.* out= must be given"):
        gemm(A, B, beta=1.0)
