"""model.summary(): the table, the Keras footer, and the numbers under freezing and masks."""

from __future__ import annotations

import numpy as np

from pyfrozen.layers import BatchNormalization, Conv2D, Dense, Input
from pyfrozen.models import Model, Sequential
from pyfrozen.models.summary import readable_size


def mlp(name=None):
    return Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                       Dense(3, name="out")], name=name)


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


def test_readable_size_is_keras_1024_based():
    assert readable_size(0) == "0.00 B" and readable_size(1023) == "1023.00 B"
    assert readable_size(1024) == "1.00 KB" and readable_size(268) == "268.00 B"
    assert readable_size(3 * 1024**2 + 512 * 1024) == "3.50 MB"


def test_nested_models_expand_and_the_trainable_column_can_go():
    inp = Input((4,))
    base = Model(inp, Dense(3, name="inner")(inp), name="base")
    outer_in = Input((4,))
    model = Model(outer_in, Dense(2, name="head")(base(outer_in)), name="outer")
    flat = model.summary(print_fn=lambda text: None)
    assert [(r.name, r.type_name) for r in flat.rows][1:] == [("base", "Functional"),
                                                              ("head", "Dense")]
    assert flat.rows[0].type_name == "InputLayer" and flat.rows[1].params == 15
    nested = model.summary(expand_nested=True, print_fn=lambda text: None)
    assert [(r.name, r.depth) for r in nested.rows][1:] == [
        ("base", 0), (base.layers[0].name, 1), ("inner", 1), ("head", 0)]
    assert "│   └ inner (Dense)" in str(nested)
    bare = model.summary(show_trainable=False, print_fn=lambda text: None)
    assert "Trainable" in str(flat).splitlines()[2]  # the header row
    assert "Trainable" not in str(bare).splitlines()[2]
    assert bare.total_params == flat.total_params == 15 + 8


def test_summary_prints_through_print_fn_once():
    printed = []
    s = mlp("p").summary(print_fn=printed.append)
    assert printed == [str(s)] and repr(s).startswith("<ModelSummary 'p': total 67")


def _rows_by_name(model) -> dict:
    return {r.name: r for r in model.summary(expand_nested=True, print_fn=lambda _: None).rows}


def test_bn_of_a_trainable_base_called_with_training_false_shows_inference():
    inp = Input((4, 4, 2))
    base = Model(inp, BatchNormalization(name="base_bn")(Conv2D(3, 1)(inp)), name="base")
    assert _rows_by_name(base)["base_bn"].note == "BN: batch stats when training"
    outer_in = Input((4, 4, 2))
    model = Model(outer_in, Dense(2, name="head")(base(outer_in, training=False)))
    rows = _rows_by_name(model)
    assert base.trainable and rows["base"].trainable == "Y"
    assert rows["base"].note == "called with training=False"
    assert rows["base_bn"].note == "BN: inference (called with training=False)"
    assert "Y (BN: inference (called with training=False))" in str(
        model.summary(expand_nested=True, print_fn=lambda _: None))
    # ... which is what runs: training the outer model leaves the moving statistics alone.
    bn = base.get_layer("base_bn")
    before = bn.moving_mean.numpy().copy()
    x = np.random.default_rng(0).standard_normal((8, 4, 4, 2)).astype(np.float32)
    model(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)


def test_bn_called_with_training_true_shows_batch_stats_even_in_predict():
    inp = Input((4, 4, 2))
    model = Model(inp, BatchNormalization(name="bn_on")(inp, training=True))
    assert _rows_by_name(model)["bn_on"].note == "BN: batch stats (called with training=True)"
    bn = model.get_layer("bn_on")
    before = bn.moving_mean.numpy().copy()
    model.predict(np.ones((2, 4, 4, 2), np.float32))
    assert not np.array_equal(bn.moving_mean.numpy(), before)  # the explicit value wins
    bn.trainable = False  # a frozen BN runs inference whatever the call says
    assert _rows_by_name(model)["bn_on"].note == "BN: inference"


def test_a_layer_called_with_both_values_keeps_its_own_note():
    bn = BatchNormalization(name="shared_bn")
    inp = Input((3,))
    model = Model(inp, [bn(inp, training=True), bn(inp, training=False)])
    assert _rows_by_name(model)["shared_bn"].note == "BN: batch stats when training"
