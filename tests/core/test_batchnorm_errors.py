"""Bad calls to the batchnorm bindings raise TypeError/ValueError naming the op, the
argument and the shapes; nothing is written by a refused call."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import _core

X = np.ones((2, 3, 4), np.float32)  # rows = 6, C = 4
C4 = np.ones(4, np.float32)

FWD = "batchnorm_forward_training"
INF = "batchnorm_forward_inference"
BWD = "batchnorm_backward_training"
BINF = "batchnorm_backward_inference"


def c4():
    return np.ones(4, np.float32)


def test_dtypes():
    with pytest.raises(TypeError, match=f"{FWD}: x must be float32 or float64.*int64"):
        _core.batchnorm_forward_training(X.astype(np.int64), None, None)
    with pytest.raises(TypeError, match=f"{FWD}: gamma must be float32 like the other arguments, "
                                        r"got float64 \(4,\)"):
        _core.batchnorm_forward_training(X, C4.astype(np.float64), None)
    with pytest.raises(TypeError, match=f"{INF}: running_var must be float32.*float16"):
        _core.batchnorm_forward_inference(X, None, None, C4, C4.astype(np.float16))
    with pytest.raises(TypeError, match=f"{BWD}: x must be float64 like the other arguments"):
        _core.batchnorm_backward_training(np.ones((6, 4)), X.reshape(6, 4), None, C4, C4)
    with pytest.raises(TypeError, match=f"{BINF}: dy must be float32 or float64 .native byte"):
        _core.batchnorm_backward_inference(X.astype(">f4"), None, None, C4, C4)


def test_not_arrays():
    with pytest.raises(TypeError, match=f"{FWD}: x must be a numpy.ndarray, got list"):
        _core.batchnorm_forward_training(X.tolist(), None, None)
    with pytest.raises(TypeError, match=f"{FWD}: beta must be a numpy.ndarray, got float"):
        _core.batchnorm_forward_training(X, None, 1.0)
    with pytest.raises(TypeError, match=f"{INF}: running_mean must be a numpy.ndarray, got None"):
        _core.batchnorm_forward_inference(X, None, None, None, C4)
    with pytest.raises(TypeError, match=f"{BINF}: running_var must be a numpy.ndarray, got None"):
        _core.batchnorm_backward_inference(X, X, None, C4, None)


def test_rank_and_layout():
    with pytest.raises(ValueError, match=rf"{FWD}: x must have at least 2 dimensions .* \(4,\)"):
        _core.batchnorm_forward_training(C4, None, None)
    with pytest.raises(ValueError, match=f"{BWD}: dy must have at least 2 dimensions"):
        _core.batchnorm_backward_training(C4, None, None, None, None, need_dx=False,
                                          need_dgamma=False)
    with pytest.raises(ValueError, match=rf"{INF}: x \(4, 3, 2\) must be C-contiguous"):
        _core.batchnorm_forward_inference(X.T, None, None, np.ones(2, np.float32),
                                          np.ones(2, np.float32))
    with pytest.raises(ValueError, match=f"{FWD}: gamma .* must be C-contiguous"):
        _core.batchnorm_forward_training(X, np.ones(8, np.float32)[::2], None)


def test_channel_shapes_name_both_shapes():
    bad = np.ones(5, np.float32)
    with pytest.raises(ValueError, match=rf"{FWD}: gamma must have shape \(4,\) \(channels of x "
                                         rf"\(2, 3, 4\)\), got \(5,\)"):
        _core.batchnorm_forward_training(X, bad, None)
    with pytest.raises(ValueError, match=rf"{FWD}: running_var must have shape \(4,\) .*\(5,\)"):
        _core.batchnorm_forward_training(X, None, None, running_mean=c4(), running_var=bad)
    with pytest.raises(ValueError, match=rf"{INF}: beta must have shape \(4,\) .* got \(4, 1\)"):
        _core.batchnorm_forward_inference(X, None, C4.reshape(4, 1), C4, C4)
    with pytest.raises(ValueError, match=rf"{BWD}: inv_std must have shape \(4,\) \(channels of dy "
                                         rf"\(2, 3, 4\)\), got \(5,\)"):
        _core.batchnorm_backward_training(X, X, None, C4, bad)
    with pytest.raises(ValueError, match=rf"{BWD}: x must have shape \(2, 3, 4\) \(dy "
                                         rf"\(2, 3, 4\)\), got \(6, 4\)"):
        _core.batchnorm_backward_training(X, X.reshape(6, 4), None, C4, C4)
    with pytest.raises(ValueError, match=rf"{BINF}: x must have shape \(2, 3, 4\)"):
        _core.batchnorm_backward_inference(X, X[:1], None, C4, C4)


def test_out_checks():
    with pytest.raises(ValueError, match=rf"{FWD}: out must have shape \(2, 3, 4\) "
                                         rf"\(x \(2, 3, 4\)\), got \(6, 4\)"):
        _core.batchnorm_forward_training(X, None, None, out=np.empty((6, 4), np.float32))
    with pytest.raises(TypeError, match=f"{INF}: out must be float32"):
        _core.batchnorm_forward_inference(X, None, None, C4, C4, out=np.empty(X.shape))
    ro = np.empty(X.shape, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=f"{FWD}: out is read-only"):
        _core.batchnorm_forward_training(X, None, None, out=ro)
    x = X.copy()
    with pytest.raises(ValueError, match=f"{INF}: out .* overlaps x"):
        _core.batchnorm_forward_inference(x, None, None, C4, C4, out=x)


def test_running_statistics_checks():
    with pytest.raises(ValueError, match=f"{FWD}: running_mean and running_var must be given "
                                         "together .got only running_mean"):
        _core.batchnorm_forward_training(X, None, None, running_mean=c4())
    ro = c4()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=f"{FWD}: running_var is read-only"):
        _core.batchnorm_forward_training(X, None, None, running_mean=c4(), running_var=ro)
    x = np.ones((5, 4), np.float32)
    with pytest.raises(ValueError, match=f"{FWD}: running_mean .* overlaps x"):
        _core.batchnorm_forward_training(x, None, None, running_mean=x[2], running_var=c4())
    gamma = c4()
    with pytest.raises(ValueError, match=f"{FWD}: running_var .* overlaps gamma"):
        _core.batchnorm_forward_training(x, gamma, None, running_mean=c4(), running_var=gamma)
    both = c4()
    with pytest.raises(ValueError, match=f"{FWD}: running_mean .* overlaps running_var"):
        _core.batchnorm_forward_training(x, None, None, running_mean=both, running_var=both)


def test_scalar_checks_leave_running_statistics_alone():
    rm, rv = c4(), c4()
    with pytest.raises(ValueError, match=f"{FWD}: epsilon must be finite and >= 0, got -1"):
        _core.batchnorm_forward_training(X, None, None, epsilon=-1.0, running_mean=rm,
                                         running_var=rv)
    with pytest.raises(ValueError, match=f"{FWD}: momentum must be in \\[0, 1\\].* got 1.5"):
        _core.batchnorm_forward_training(X, None, None, momentum=1.5, running_mean=rm,
                                         running_var=rv)
    with pytest.raises(ValueError, match=f"{INF}: epsilon must be finite"):
        _core.batchnorm_forward_inference(X, None, None, rm, rv, epsilon=float("nan"))
    with pytest.raises(ValueError, match=f"{BINF}: epsilon must be finite"):
        _core.batchnorm_backward_inference(X, X, None, rm, rv, epsilon=float("inf"))
    with pytest.raises(ValueError, match=f"{FWD}: batch statistics need at least one row, got "
                                         r"rows=0 \(channels=4\)"):
        _core.batchnorm_forward_training(np.ones((0, 4), np.float32), None, None,
                                         running_mean=rm, running_var=rv)
    np.testing.assert_array_equal(rm, 1)
    np.testing.assert_array_equal(rv, 1)


def test_missing_inputs_for_requested_gradients():
    with pytest.raises(TypeError, match=f"{BWD}: x is None but dx or dgamma needs it"):
        _core.batchnorm_backward_training(X, None, None, C4, C4, need_dx=False)
    with pytest.raises(TypeError, match=f"{BWD}: mean must be a numpy.ndarray, got None"):
        _core.batchnorm_backward_training(X, X, None, None, C4, need_dgamma=False)
    with pytest.raises(TypeError, match=f"{BINF}: x is None but dgamma needs it"):
        _core.batchnorm_backward_inference(X, None, None, C4, C4, need_dx=False)
    # Without dx and dgamma, nothing but dy is needed.
    dx, dgamma, dbeta = _core.batchnorm_backward_training(X, None, None, None, None,
                                                          need_dx=False, need_dgamma=False)
    assert dx is None and dgamma is None
    np.testing.assert_array_equal(dbeta, 6)


def test_activation_checks():
    with pytest.raises(ValueError, match=f"{FWD}: unknown activation 'gelu'; expected 'none'"):
        _core.batchnorm_forward_training(X, None, None, activation="gelu")
    with pytest.raises(TypeError, match=f"{BWD}: y is None but the gradient through the "
                                        r"activation \(or pass affine\) needs it"):
        _core.batchnorm_backward_training(X, None, None, None, None, need_dx=False,
                                          need_dgamma=False, activation="relu")
    with pytest.raises(ValueError, match=rf"{BWD}: y must have shape \(2, 3, 4\) "
                                         r"\(dy \(2, 3, 4\)\), got \(6, 4\)"):
        _core.batchnorm_backward_training(X, X, None, C4, C4, y=np.ones((6, 4), np.float32),
                                          activation="relu6")
    with pytest.raises(ValueError, match=f"{BWD}: y and affine are read only through an "
                                         "activation"):
        _core.batchnorm_backward_training(X, X, None, C4, C4, y=X)
    affine = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=f"{BWD}: y and affine are read only through an "
                                         "activation"):
        _core.batchnorm_backward_training(X, X, None, C4, C4, affine=affine)
    # affine stands in for y, and needs x to recompute the activation from.
    with pytest.raises(TypeError, match=f"{BWD}: x is None but the activation recomputed "
                                        "from affine needs it"):
        _core.batchnorm_backward_training(X, None, None, None, None, need_dx=False,
                                          need_dgamma=False, activation="relu", affine=affine)
    with pytest.raises(ValueError, match=rf"{BWD}: affine must have shape \(3, 4\) "
                                         r"\(channels of dy \(2, 3, 4\)\), got \(4, 3\)"):
        _core.batchnorm_backward_training(X, X, None, C4, C4, activation="relu",
                                          affine=np.ones((4, 3), np.float32))
    with pytest.raises(TypeError, match=f"{BWD}: affine"):
        _core.batchnorm_backward_training(X, X, None, C4, C4, activation="relu",
                                          affine=np.ones((3, 4)))
    with pytest.raises(ValueError, match=rf"{FWD}: affine_out must have shape \(3, 4\)"):
        _core.batchnorm_forward_training(X, None, None, affine_out=np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match=f"{FWD}: affine_out"):
        _core.batchnorm_forward_training(X, None, None, affine_out=affine[:, ::-1])
    out = np.empty((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=f"{FWD}: affine_out .* overlaps out"):
        _core.batchnorm_forward_training(X, None, None, out=out, affine_out=out.reshape(6, 4)[:3])
    # dbeta alone through relu: the sum of dy where y > 0.
    y = np.ones((2, 3, 4), np.float32)
    y[0] = -1.0
    _, _, dbeta = _core.batchnorm_backward_training(X, None, None, None, None, need_dx=False,
                                                    need_dgamma=False, y=y, activation="relu")
    np.testing.assert_array_equal(dbeta, 3)
