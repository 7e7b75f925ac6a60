"""Batching for fit / evaluate / predict: Keras's validation_split, class weights,
shuffling and the EpochIterator's steps."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.models import data_adapter as da


def test_unpack():
    assert da.unpack_x_y_sample_weight(1) == (1, None, None)
    assert da.unpack_x_y_sample_weight([1, 2]) == (1, 2, None)
    assert da.unpack_x_y_sample_weight((1, 2, 3)) == (1, 2, 3)
    with pytest.raises(ValueError, match="found a tuple of 4"):
        da.unpack_x_y_sample_weight((1, 2, 3, 4))


def test_validation_split_takes_the_last_samples():
    x = np.arange(10)
    (tx, ty, tw), (vx, vy, vw) = da.train_validation_split((x, {"a": x * 2}, None), 0.3)
    np.testing.assert_array_equal(tx, np.arange(7))
    np.testing.assert_array_equal(vy["a"], [14, 16, 18])
    assert tw is None and vw is None
    with pytest.raises(ValueError, match="only supported for NumPy arrays"):
        da.train_validation_split((iter([1]), None, None), 0.5)


def test_class_weight_from_sparse_and_one_hot_labels():
    w = da.class_weight_to_sample_weights(np.array([0, 2, 1]), {2: 3.0})
    np.testing.assert_array_equal(w, [1, 3, 1])
    w = da.class_weight_to_sample_weights(np.eye(3)[[2, 0]], {2: 5.0, 0: 0.5})
    np.testing.assert_array_equal(w, [5, 0.5])


def test_array_batches_shuffle_every_epoch_and_keep_the_last_partial_batch():
    x = np.arange(10)
    it = da.EpochIterator(x, x * 10, batch_size=4, shuffle=True)
    assert it.num_batches == 3
    epochs = [[b for _, b in it] for _ in range(2)]
    for batches in epochs:
        assert [len(b[0]) for b in batches] == [4, 4, 2]
        xs = np.concatenate([b[0] for b in batches])
        assert sorted(xs) == list(range(10))
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), xs * 10)
    assert not np.array_equal(np.concatenate([b[0] for b in epochs[0]]),
                              np.concatenate([b[0] for b in epochs[1]]))
    chunked = [b[0] for _, b in da.EpochIterator(x, batch_size=4, shuffle="batch")]
    assert sorted(sorted(c.tolist()) for c in chunked) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_steps_per_epoch_continues_a_generator_across_epochs():
    it = da.EpochIterator(iter(range(100)), steps_per_epoch=3)
    assert [b for _, b in it] == [0, 1, 2] and [b for _, b in it] == [3, 4, 5]
    assert it.num_batches == 3


def test_unknown_size_is_learnt_and_running_short_warns():
    it = da.EpochIterator(iter(range(5)))
    assert it.num_batches is None and len(list(it)) == 5 and it.num_batches == 5
    short = da.EpochIterator(iter(range(2)), steps_per_epoch=3)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert len(list(short)) == 2


def test_bad_inputs():
    with pytest.raises(ValueError, match="Unexpected value for `x`: None"):
        da.EpochIterator(None)
    with pytest.raises(ValueError, match="`batch_size` should not be passed"):
        da.EpochIterator(iter([1]), batch_size=3)
    with pytest.raises(ValueError, match="steps_per_epoch must be None or an integer >= 1"):
        da.EpochIterator(np.ones(3), steps_per_epoch=0)
