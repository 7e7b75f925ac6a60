"""Embedding: integer indices -> rows of the (input_dim, output_dim) table."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.models import Model
from pyfrozen.tensor import Tensor
from pyfrozen.testing import check_layer


@pytest.mark.parametrize(("dims", "indices"), [
    ((7, 3), np.array([[0, 6, 2], [2, 2, 5]])),
    ((5, 2), np.array([4, 0, 1, 3], dtype=np.int32)),
    ((4, 4), np.array([[[1, 2], [3, 0]], [[0, 0], [1, 1]]], dtype=np.uint8)),
])
def test_embedding(dims, indices):
    report = check_layer(layers.Embedding, {"input_dim": dims[0], "output_dim": dims[1]},
                         indices.shape, input_data=indices,
                         expected_output_shape=(*indices.shape, dims[1]),
                         expected_num_trainable_weights=1, expected_num_non_trainable_weights=0,
                         expected_num_params=dims[0] * dims[1])
    table = report.layer.embeddings.numpy()
    np.testing.assert_array_equal(report.output, table[indices])


def test_weight_name_shape_and_default_initializer():
    layer = layers.Embedding(1000, 8)
    layer.build((None, 5))
    (weight,) = layer.weights
    assert weight.name == "embeddings" and weight.shape == (1000, 8)
    assert weight.dtype == np.float32
    values = weight.numpy()
    assert values.min() >= -0.05 and values.max() <= 0.05 and values.std() > 0.02
    assert layer.get_config()["embeddings_initializer"] == "uniform"
    assert layer.name.startswith("embedding")
    ones = layers.Embedding(3, 2, embeddings_initializer="ones")
    np.testing.assert_array_equal(ones(np.array([[1]])).numpy(), np.ones((1, 1, 2)))


def test_integer_inputs_are_never_cast_to_float():
    layer = layers.Embedding(10, 2)  # a float32 layer
    for dtype in (np.int32, np.int64, np.uint8):
        x = layer._cast_input(np.array([[1, 2]], dtype=dtype))
        assert x.dtype == dtype
    t = Tensor(np.array([3, 4], dtype=np.int32))
    assert layer._cast_input(t) is t
    # Float indices are converted to int64 directly, never through float32 (2**24 + 1 is
    # not a float32 number).
    big = layer._cast_input(np.array([2.0**24 + 1]))
    assert big.dtype == np.int64 and int(big.numpy()[0]) == 2**24 + 1
    out = layer(np.array([[1.0, 9.0]]))
    np.testing.assert_array_equal(out.numpy(), layer.embeddings.numpy()[[[1, 9]]])


def test_symbolic_integer_input_in_a_model():
    inputs = layers.Input((3,), dtype="int32")
    x = layers.Embedding(6, 2, name="emb")(inputs)
    assert x.shape == (None, 3, 2) and x.dtype == "float32"
    model = Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    ids = np.array([[0, 1, 5], [5, 5, 2]], dtype=np.int32)
    assert model.predict(ids).shape == (2, 1)
    table = model.get_layer("emb").embeddings.numpy()
    np.testing.assert_array_equal(model.get_layer("emb")(ids).numpy(), table[ids])


def test_matches_torch(torch):
    layer = layers.Embedding(9, 4, dtype="float64")
    ids = np.array([[8, 0, 8], [3, 3, 1]])
    y = layer(ids)
    y.backward(np.arange(y.size, dtype=np.float64).reshape(y.shape))
    table = torch.tensor(layer.embeddings.numpy(), requires_grad=True)
    out = torch.nn.functional.embedding(torch.tensor(ids), table)
    out.backward(torch.arange(out.numel(), dtype=torch.float64).reshape(out.shape))
    np.testing.assert_array_equal(y.numpy(), out.detach().numpy())
    np.testing.assert_allclose(layer.embeddings.grad.numpy(), table.grad.numpy())


def test_frozen_rows_are_skipped_by_the_scatter():
    layer = layers.Embedding(6, 3, dtype="float64")
    ids = np.array([[0, 1, 2, 3], [4, 5, 1, 1]])
    layer(ids)
    frozen = np.array([True, False, True, True, False, True])  # train rows 1 and 4 only
    layer.set_freeze_mask("embeddings", frozen, axis=0)
    with trace() as tr:
        layer(ids).sum().backward()
    grad = layer.embeddings.grad.numpy()
    np.testing.assert_array_equal(grad[frozen], 0.0)
    np.testing.assert_array_equal(grad[~frozen], [[3.0] * 3, [1.0] * 3])  # row 1 hit 3 times
    (record,) = tr.ran(layer=layer.name, kernel="scatter_add", pass_="backward_weight")
    assert record.work == 4 * 3  # 4 lookups of trainable rows, not all 8
    assert layer.embeddings.trainable_count() == 2 * 3
    layer.set_freeze_mask("embeddings", None)
    layer.embeddings.grad = None
    with trace() as tr:
        layer(ids).sum().backward()
    assert tr.ran(kernel="scatter_add", pass_="backward_weight")[0].work == 8 * 3


def test_trainable_false_records_nothing_and_keeps_the_mask():
    layer = layers.Embedding(5, 2, dtype="float64")
    layer(np.array([[1]]))
    layer.set_freeze_mask("embeddings", np.array([True, False, False, False, False]), axis=0)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    with trace() as tr:
        y = layer(np.array([[1, 2]]))
    assert not y.requires_grad and tr.nodes == 0 and not tr.ran(kernel="scatter_add")
    layer.trainable = True
    assert layer.embeddings.trainable_count() == 4 * 2  # the mask survived the toggle


def test_index_errors():
    layer = layers.Embedding(4, 2)
    with pytest.raises(ValueError, match="index"):
        layer(np.array([[1, 4]]))
    with pytest.raises(ValueError, match="integer indices.*float64 values that are not whole"):
        layer(np.array([[1.5]]))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"input_dim": 0, "output_dim": 2}, ValueError, "`input_dim`.*Received: input_dim=0"),
    ({"input_dim": 3, "output_dim": "2"}, ValueError, "Received: output_dim='2'"),
    ({"input_dim": 3.0, "output_dim": 2}, ValueError, "input_dim=3.0"),
    ({"input_dim": 3, "output_dim": 2, "input_length": 5}, TypeError,
     "input_length.*removed in Keras 3"),
    ({"input_dim": 3, "output_dim": 2, "mask_zero": True}, TypeError, "mask_zero"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        layers.Embedding(**kwargs)



def test_changing_the_index_array_after_forward_keeps_the_gradient():
    # The lookup keeps the indices for its backward scatter: a reused index buffer refilled
    # before backward used to send the gradient to the new rows.
    layer = layers.Embedding(10, 2)
    ids = np.array([[1, 2, 2]], dtype=np.int64)
    layer(ids.copy()).backward(np.ones((1, 3, 2), np.float32))
    expected = layer.embeddings.grad.data.copy()
    layer.embeddings.grad = None
    y = layer(ids)
    ids[...] = 7
    y.backward(np.ones((1, 3, 2), np.float32))
    np.testing.assert_array_equal(layer.embeddings.grad.data, expected)
    with pyfrozen.no_grad():  # inference: the caller's indices are used as they are
        assert np.shares_memory(layer._cast_input(ids).data, ids)
