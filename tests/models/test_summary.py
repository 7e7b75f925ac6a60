"""model.summary(): the table, the Keras footer, and the numbers under freezing and masks."""

from __future__ import annotations

import numpy as np

from pyfrozen.layers import Dense, Input
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
