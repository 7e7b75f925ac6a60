"""Every public layer documents, in Keras order, what freezing changes for it."""

from __future__ import annotations

import inspect

import pytest

import pyfrozen
from pyfrozen import layers

LAYER_CLASSES = [
    cls for name in layers.__all__
    if inspect.isclass(cls := getattr(layers, name)) and issubclass(cls, layers.Layer)
]


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_layer_docstring_has_a_freezing_paragraph_after_args(cls):
    doc = inspect.getdoc(cls) or ""
    assert "\nFreezing:\n" in doc, f"{cls.__name__} has no 'Freezing:' paragraph"
    if "\nArgs:\n" in doc:
        assert doc.index("\nArgs:\n") < doc.index("\nFreezing:\n")


def test_models_and_builders_document_freezing_too():
    for obj in (pyfrozen.models.Model, pyfrozen.models.Sequential,
                pyfrozen.applications.MobileNet, pyfrozen.Parameter):
        assert "Freezing:" in (inspect.getdoc(obj) or ""), obj
