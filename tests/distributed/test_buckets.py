"""BucketPlan without MPI: what goes on the wire for trainable, frozen and masked weights."""

from __future__ import annotations

import gc

import numpy as np

from pyfrozen.distributed.buckets import BucketPlan
from pyfrozen.tensor import Parameter


def _weights():
    a = Parameter(np.zeros((4, 3), np.float32), name="a")
    b = Parameter(np.zeros((5,), np.float32), name="b")
    c = Parameter(np.zeros((2, 6), np.float32), name="c")
    return [a, b, c]


def test_buckets_fill_from_the_last_weight_and_split_at_the_byte_limit():
    a, b, c = _weights()
    plan = BucketPlan([a, b, c], bucket_bytes=(12 + 5) * 4)  # c + b fit, a does not
    assert [s.weight.name for s in plan.slots] == ["c", "b", "a"]
    assert [buf.size for buf in plan.buffers] == [12 + 5, 12]
    assert plan.nbytes == (12 + 5 + 12) * 4


def test_pack_scales_and_unpack_restores_every_shape():
    weights = _weights()
    grads = [np.arange(w.size, dtype=np.float32).reshape(w.shape) + i
             for i, w in enumerate(weights)]
    plan = BucketPlan(weights, bucket_bytes=1 << 20)
    for w, g in zip(weights, grads, strict=True):
        w.grad = g
    plan.pack(0.5)
    for g, out in zip(grads, plan.unpack(), strict=True):
        np.testing.assert_array_equal(out, g * np.float32(0.5))


def test_masked_rows_are_left_out_and_come_back_as_zeros():
    a, b, c = _weights()
    a.set_freeze_mask(np.array([True, False, True, False]), axis=0)  # rows 1 and 3 train
    plan = BucketPlan([a, b], bucket_bytes=1 << 20)
    assert plan.elements == 2 * 3 + 5
    g = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    a.grad, b.grad = g, np.ones(5, np.float32)
    plan.pack(1.0)
    (buffer,) = plan.buffers
    np.testing.assert_array_equal(buffer[5:], g[[1, 3]].reshape(-1))  # b first, then a
    out = plan.unpack()[0]
    np.testing.assert_array_equal(out[[1, 3]], g[[1, 3]])
    np.testing.assert_array_equal(out[[0, 2]], 0)


def test_a_missing_gradient_adds_zeros():
    a, b, _ = _weights()
    plan = BucketPlan([a, b], bucket_bytes=1 << 20)
    b.grad = np.ones(5, np.float32)
    plan.pack(1.0)
    np.testing.assert_array_equal(plan.unpack()[0], np.zeros((4, 3)))


def test_the_plan_key_holds_the_mask_it_was_made_for():
    # A key of ids alone let a freed mask's id be reused by a new mask: the old plan (and
    # its frozen rows) would then have been kept. The key holds the masks themselves.
    a, b, c = _weights()
    a.set_freeze_mask(np.array([True, False, False, False]), axis=0)
    key = BucketPlan([a, b, c], bucket_bytes=1 << 20).key
    old = a.update_mask
    a.set_freeze_mask(np.array([False, True, False, False]), axis=0)
    gc.collect()
    assert key[0][1].obj is old  # kept alive by the key
    assert BucketPlan([a, b, c], bucket_bytes=1 << 20).key != key
