"""Model and Sequential: graphs, nesting, cutting, predict, summary, weight files."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.io import WeightFileError
from pyfrozen.layers import Dense, Input
from pyfrozen.models import Model, Sequential


def mlp(name=None):
    return Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                       Dense(3, name="out")], name=name)


def test_sequential_builds_from_the_first_call():
    model = Sequential([Dense(5), Dense(2)])
    assert not model.built
    y = model(np.ones((3, 7)))
    assert y.shape == (3, 2) and model.built and model.count_params() == 40 + 12
    assert [layer.name for layer in model.layers][0].startswith("dense")


def test_predict_is_batched_tape_free_and_equals_a_call():
    model = mlp()
    x = np.random.default_rng(0).standard_normal((70, 4)).astype(np.float32)
    with trace() as t:
        out = model.predict(x, batch_size=32)
    assert t.nodes == 0 and out.shape == (70, 3)
    np.testing.assert_array_equal(out, model(x).data)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.predict(x, batch_size=0)


def test_predict_on_no_samples_gives_empty_outputs():
    model = Sequential([Input((6, 6, 2)), pyfrozen.layers.Conv2D(3, 3),
                        pyfrozen.layers.BatchNormalization(),
                        pyfrozen.layers.GlobalAveragePooling2D(), Dense(4)])
    assert model.predict(np.ones((0, 6, 6, 2))).shape == (0, 4)


def test_nested_frozen_base_and_cut_model():
    base = mlp("base")
    base.trainable = False
    inp = Input((4,))
    features = base(inp, training=False)
    model = Model(inp, Dense(5, name="head")(features))
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]
    x = pyfrozen.tensor(np.ones((2, 4), np.float32))
    with trace() as t:
        model(x, training=True).backward(np.ones((2, 5), np.float32))
    assert not t.ran(layer="hidden") or {r.pass_ for r in t.ran(layer="hidden")} == {"forward"}
    assert base.get_layer("hidden").kernel.grad is None
    cut = Model(base.inputs, base.get_layer("hidden").output)
    np.testing.assert_array_equal(cut.predict(x.data), base.get_layer("hidden")(x).data)
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")


def test_graph_errors():
    a, b = Input((2,)), Input((2,))
    y = Dense(1)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, y)
    x = Input((2,))
    with pytest.raises(ValueError, match='The name "same" is used 2 times'):
        Model(x, Dense(1, name="same")(Dense(2, name="same")(x)))
    model = Model(x, Dense(1)(x))
    with pytest.raises(ValueError, match=r"expects shape \(None, 2\), received \(3, 5\)"):
        model(np.ones((3, 5)))
    with pytest.raises(TypeError, match="arithmetic on symbolic tensors"):
        x + x


def test_summary_text_and_numbers_follow_freezing_and_masks():
    model = mlp("m")
    s = model.summary(print_fn=lambda text: None)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (67, 67, 0)
    text = str(s)
    assert 'Model: "m"' in text and " Total params: 67 (268.00 B)" in text
    assert "hidden (Dense)" in text and "(None, 8)" in text
    model.get_layer("hidden").set_freeze_mask("kernel", np.arange(8) < 6)  # 2 of 8 columns
    s = model.summary(print_fn=lambda text: None)
    assert s.trainable_params == 67 - 24 and "16 of 40" in str(s)
    model.trainable = False
    s = model.summary(print_fn=lambda text: None)
    assert (s.trainable_params, s.non_trainable_params) == (0, 67)
    assert " Non-trainable params: 67 (268.00 B)" in str(s)


def test_weights_round_trip_bit_exactly_into_a_rebuilt_model(tmp_path):
    path = tmp_path / "w.safetensors"
    model = Sequential([Input((4,)), Dense(8), Dense(3)])  # auto-named layers
    model.save_weights(str(path))
    rebuilt = Sequential([Input((4,)), Dense(8), Dense(3)])  # other global names
    assert rebuilt.layers[0].name != model.layers[0].name
    rebuilt.load_weights(str(path))
    for a, b in zip(model.get_weights(), rebuilt.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_nested_auto_named_functional_model_loads_into_a_rebuilt_model(tmp_path):
    def build():
        inp = Input((4,))
        base = Model(inp, Dense(3)(inp))  # auto-named "functional", "functional_1", ...
        outer = Input((4,))
        return Model(outer, Dense(2)(base(outer)))

    path = tmp_path / "w.safetensors"
    model = build()
    model.save_weights(str(path))
    rebuilt = build()
    rebuilt.load_weights(str(path))
    for a, b in zip(model.get_weights(), rebuilt.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_two_weights_with_one_path_are_refused_not_overwritten(tmp_path):
    class Pair(pyfrozen.layers.Layer):
        def __init__(self):
            super().__init__()
            self.a, self.b = Dense(2, name="d"), Dense(2, name="d")

        def call(self, x):
            return self.a(x) + self.b(x)

    inp = Input((3,))
    model = Model(inp, Pair()(inp))
    with pytest.raises(ValueError, match="have the path 'pair/d/kernel'"):
        model.save_weights(str(tmp_path / "w.safetensors"))


def test_bad_files_are_rejected_and_load_nothing(tmp_path):
    path = tmp_path / "w.safetensors"
    mlp().save_weights(str(path))
    other = Sequential([Input((4,)), Dense(8, name="hidden"), Dense(2, name="out")])
    before = other.get_weights()
    with pytest.raises(WeightFileError, match=r"out/kernel"):
        other.load_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError):
        other.load_weights(str(path))
    corrupted = bytearray(data)
    corrupted[-5] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(WeightFileError, match="sha256"):
        mlp().load_weights(str(path))
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_skip_mismatch_loads_the_base_of_a_replaced_head(tmp_path):
    path = tmp_path / "w.safetensors"
    source = mlp()
    source.save_weights(str(path))
    target = Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                         Dense(10, name="out")])
    missing, unexpected, mismatched = target.load_weights(str(path), skip_mismatch=True)
    assert (missing, unexpected) == ([], [])
    assert sorted(m.name for m in mismatched) == ["out/bias", "out/kernel"]
    np.testing.assert_array_equal(target.get_layer("hidden").kernel.data,
                                  source.get_layer("hidden").kernel.data)


def test_a_nested_list_is_one_input_for_a_one_input_model():
    model = mlp()
    rows = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]]
    np.testing.assert_array_equal(model.predict(rows), model.predict(np.asarray(rows)))
    assert model(rows).shape == (2, 3)
    assert model.predict([np.asarray(rows, np.float32)]).shape == (2, 3)
