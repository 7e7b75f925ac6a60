"""The format table behind Model.save / export / load_model (pyfrozen.models.formats)."""

from __future__ import annotations

import pytest

import pyfrozen
from pyfrozen.layers import Dense, Input
from pyfrozen.models import formats


def small_model() -> pyfrozen.Model:
    inputs = Input((3,))
    return pyfrozen.Model(inputs, Dense(2)(inputs))


def test_unknown_export_format_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'tf_saved_model'"):
        small_model().export(str(tmp_path / "m"))


def test_unknown_model_suffix_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"cannot tell the format of .*model\.xyz"):
        small_model().save(str(tmp_path / "model.xyz"))
    with pytest.raises(ValueError, match=r"load_model: cannot tell the format"):
        pyfrozen.models.load_model(str(tmp_path / "model.xyz"))


def test_the_longest_registered_suffix_wins():
    table = {".h5": "h5", ".weights.h5": "weights"}
    assert formats._by_suffix(table, "a/b.weights.h5", "x") == "weights"
    assert formats._by_suffix(table, "a/b.h5", "x") == "h5"
