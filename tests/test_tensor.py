"""Tensor and Parameter: construction, dtype rules, sharing, in-place changes, masks."""

from __future__ import annotations

import copy
import pickle
import weakref

import numpy as np
import pytest

import pyfrozen
from pyfrozen import Parameter, Tensor


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(6.0).reshape(2, 3)
    copied, shared = pyfrozen.tensor(a), Tensor.from_numpy(a)
    a[0, 0] = 42.0
    assert copied.data[0, 0] == 0.0 and shared.data[0, 0] == 42.0
    assert shared.numpy() is a  # numpy() is a view, not a copy


def test_default_dtypes():
    assert pyfrozen.tensor([1.5, 2.0]).dtype == np.float32
    assert pyfrozen.tensor(np.ones(2)).dtype == np.float64  # numpy arrays keep theirs
    assert pyfrozen.tensor([1, 2]).dtype == np.int64
    assert pyfrozen.tensor([1, 2], dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float16, np.complex64])
def test_unsupported_dtypes_are_rejected(dtype):
    with pytest.raises(TypeError, match="not supported"):
        Tensor.from_numpy(np.ones(2, dtype=dtype))


def test_only_float_leaves_require_grad():
    with pytest.raises(TypeError, match="only float tensors"):
        pyfrozen.tensor([1, 2], requires_grad=True)
    y = pyfrozen.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match="only be set on leaf"):
        y.requires_grad = False


def test_python_scalars_take_the_tensor_dtype_and_dtypes_never_mix():
    x32 = pyfrozen.tensor([1.0, 2.0])
    assert (x32 * 2.5).dtype == np.float32 and (1 - x32).dtype == np.float32
    x64 = pyfrozen.tensor(np.ones(2))
    with pytest.raises(TypeError, match=r"float32 \(2,\).*float64 \(2,\)"):
        x32 + x64


def test_item_repr_detach():
    x = pyfrozen.tensor([[3.0]], requires_grad=True)
    assert x.item() == 3.0 and "requires_grad=True" in repr(x)
    y = x * 2.0
    assert "grad_fn=mul" in repr(y) and y.grad_fn == "mul" and not y.is_leaf
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.data, y.data)
    with pytest.raises(ValueError, match="one element"):
        pyfrozen.tensor([1.0, 2.0]).item()


def test_in_place_changes_bump_the_version_and_refuse_grad_tensors():
    x = pyfrozen.tensor([1.0, 2.0])
    v0 = x._version.value
    x[0] = 5.0
    x.fill_(1.0).zero_().copy_(np.array([3.0, 4.0], np.float32))
    assert x._version.value == v0 + 4 and x.tolist() == [3.0, 4.0]
    w = pyfrozen.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad is being used in an"):
        w.fill_(0.0)
    with pyfrozen.no_grad():
        w.fill_(0.0)  # as an optimizer does
    with pytest.raises(TypeError, match="float64 into tensor float32"):
        x.copy_(np.ones(2))


def test_parameter_trainable_and_masks():
    p = Parameter(np.zeros((4, 3), np.float32), name="kernel")
    assert p.requires_grad and p.trainable_count() == 12
    p.set_freeze_mask(np.array([True, False, False]))  # broadcast along the last axis
    assert p.trainable_count() == 8 and p.requires_grad
    assert p.trainable_index(1).tolist() == [1, 2] and p.trainable_index(0) is None
    p.trainable = False
    assert not p.requires_grad and p.trainable_count() == 0
    p.trainable = True  # the mask survives the toggle
    assert p.trainable_count() == 8
    p.set_freeze_mask(np.array([True, False, True, True]), axis=0)
    assert p.trainable_index(0).tolist() == [1] and p.trainable_count() == 3
    p.set_freeze_mask(np.ones((4, 3), bool))  # everything frozen == trainable=False
    assert not p.requires_grad and p.trainable
    p.set_freeze_mask(None)
    assert p.requires_grad and p.freeze_mask is None and p.trainable_index(0) is None


def test_element_mask_is_not_a_slice_mask():
    p = Parameter(np.zeros((2, 2)))
    p.set_freeze_mask(np.array([[True, False], [False, False]]))
    assert p.trainable_index(0) is None and p.trainable_index(1) is None
    assert "3 of 4 trainable" in repr(p)


@pytest.mark.parametrize("shape", [(3,), (4, 1), (4, 3)], ids=str)
def test_update_mask_is_a_cached_contiguous_copy_of_the_full_mask(shape):
    p = Parameter(np.zeros((4, 3), np.float32))
    assert p.update_mask is None  # no mask
    mask = np.arange(np.prod(shape)).reshape(shape) % 2 == 0
    p.set_freeze_mask(mask)
    m = p.update_mask
    assert m.dtype == np.bool_ and m.shape == (4, 3) and m.flags.c_contiguous
    assert not m.flags.writeable and all(s > 0 for s in m.strides)  # no broadcast strides
    np.testing.assert_array_equal(m, np.broadcast_to(mask, (4, 3)))
    assert p.update_mask is m  # cached
    p.trainable = False  # trainable is not folded in: the same mask stays
    np.testing.assert_array_equal(p.update_mask, m)
    p.set_freeze_mask(~mask)  # a new mask: recomputed
    np.testing.assert_array_equal(p.update_mask, ~np.broadcast_to(mask, (4, 3)))
    p.set_freeze_mask(np.zeros(3, bool))  # nothing frozen
    assert p.update_mask is None
    p.set_freeze_mask(None)
    assert p.update_mask is None


def test_bad_masks_are_reported():
    p = Parameter(np.zeros((4, 3)), name="kernel")
    with pytest.raises(ValueError, match=r"shape \(4,\) does not broadcast to .*\(4, 3\)"):
        p.set_freeze_mask(np.zeros(4, bool))
    with pytest.raises(TypeError, match="'kernel': dtype int64, expected bool"):
        p.set_freeze_mask(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="must be 1-D"):
        p.set_freeze_mask(np.zeros((4, 3), bool), axis=0)
    with pytest.raises(TypeError, match="not a float dtype"):
        Parameter(np.zeros(3, np.int64))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_tensors_and_parameters_pickle_and_copy_with_every_field(protocol):
    # Tensor's fields are C slots of tape.TensorSlots; pickling must still carry them all,
    # and a Parameter's own Python slots (name, trainable, mask) too.
    t = pyfrozen.tensor([[1.0, 2.0]], requires_grad=True)
    u = pickle.loads(pickle.dumps(t, protocol))
    assert type(u) is Tensor and u.requires_grad and u.grad is None and u.is_leaf
    np.testing.assert_array_equal(u.data, t.data)
    mask = np.array([[True, False]])
    w = Parameter(np.ones((1, 2), np.float32), name="kernel", freeze_mask=mask)
    for v in (pickle.loads(pickle.dumps(w, protocol)), copy.deepcopy(w)):
        assert type(v) is Parameter and v.name == "kernel" and v.trainable
        np.testing.assert_array_equal(v.freeze_mask, mask)
        assert v.requires_grad and v.data is not w.data
    y = t * t  # a recorded result pickles its record too (as before the C slots)
    assert pickle.loads(pickle.dumps(y, protocol)).grad_fn == "mul"


def test_tensor_fields_are_typed_slots():
    t = pyfrozen.tensor([1.0])
    assert weakref.ref(t)() is t
    with pytest.raises(AttributeError):
        t.anything_else = 1  # no __dict__: as with the former __slots__
    with pytest.raises(TypeError):
        t._version = 3  # the tape reads it as a version counter, nothing else
    # A new result starts with no gradient, no mask and a fresh version counter.
    y = t * 2.0
    assert y.grad is None and y._frozen is None and y._version.value == 0
    assert y._version is not t._version
