"""activations: lookup by Keras name, callable or None, and the reverse (name_of)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.layers import activations

KNOWN = ["linear", "log_softmax", "relu", "relu6", "sigmoid", "softmax", "tanh"]


@pytest.mark.parametrize(("name", "fn"), [
    ("linear", activations.linear), ("relu", ops.relu), ("relu6", ops.relu6),
    ("sigmoid", ops.sigmoid), ("tanh", ops.tanh), ("softmax", ops.softmax),
    ("log_softmax", ops.log_softmax)])
def test_get_by_name_and_name_of_invert_each_other(name, fn):
    assert activations.get(name) is fn
    assert activations.name_of(fn) == name


def test_none_is_linear_the_identity():
    assert activations.get(None) is activations.linear
    x = pyfrozen.tensor(np.array([-1.0, 2.0]))
    assert activations.linear(x) is x


def test_a_callable_is_returned_as_is_and_has_no_name():
    def mine(x):
        return x * 2.0

    assert activations.get(mine) is mine
    assert activations.name_of(mine) is None
    assert activations.name_of(lambda x: x) is None


@pytest.mark.parametrize("identifier", ["gelu", "ReLU", "", 3, 1.5])
def test_unknown_identifiers_list_the_known_names(identifier):
    message = f"Unknown activation: {identifier!r}. Known: {KNOWN}"
    with pytest.raises(ValueError, match=re.escape(message)):
        activations.get(identifier)


def test_fusable_activations_are_known_names():
    assert set(activations.FUSABLE) <= set(KNOWN)
    assert "softmax" not in activations.FUSABLE  # a row reduction, not an epilogue
