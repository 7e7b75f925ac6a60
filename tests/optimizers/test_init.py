"""The optimizers package (__init__.py): get / serialize / deserialize as Keras, exports."""

from __future__ import annotations

import pytest

import pyfrozen
from pyfrozen import optimizers


@pytest.mark.parametrize("name,cls", [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                                      ("adamw", optimizers.AdamW),
                                      ("rmsprop", optimizers.RMSprop), ("Adam", optimizers.Adam),
                                      ("RMSprop", optimizers.RMSprop)])
def test_get_by_name_gives_a_fresh_default_instance(name, cls):
    a, b = optimizers.get(name), optimizers.get(name)
    assert type(a) is cls and a is not b
    assert a.get_config() == cls().get_config()


def test_get_by_dict_instance_and_none():
    opt = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5,
                                                          "momentum": 0.9}})
    assert isinstance(opt, optimizers.SGD) and opt.learning_rate == 0.5 and opt.momentum == 0.9
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert again.get_config() == opt.get_config()
    # Keras's own serialized form (module / registered_name keys) is read too
    keras_dict = {"module": "keras.optimizers", "class_name": "Adam",
                  "config": {"learning_rate": 0.01}, "registered_name": None}
    assert optimizers.deserialize(keras_dict).learning_rate == 0.01


def test_bad_identifiers():
    with pytest.raises(ValueError, match=r"Could not interpret optimizer identifier: 'adamax'. "
                                         r"Known optimizers: \['adam', 'adamw', 'rmsprop', "
                                         r"'sgd'\]"):
        optimizers.get("adamax")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 42"):
        optimizers.get(42)


def test_top_level_export():
    assert pyfrozen.optimizers is optimizers and "optimizers" in pyfrozen.__all__
    assert {"SGD", "Adam", "AdamW", "RMSprop", "get", "schedules"} <= set(optimizers.__all__)
