"""pyfrozen.datasets.load_glyphs: the distorted printed glyphs shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.datasets import Glyphs, load_glyphs


def test_the_data_file_is_installed():
    data_file = resources.files("pyfrozen.datasets").joinpath("data/glyphs.npz")
    assert data_file.is_file()
    assert Path(str(data_file)).is_relative_to(Path(pyfrozen.__file__).parent)
    assert data_file.stat().st_size < 3_000_000  # "a few MB at most"


def test_all_classes_shapes_dtypes_and_counts():
    g = load_glyphs()
    assert isinstance(g, Glyphs)
    assert g.images.shape == (14400, 24, 24) and g.images.dtype == np.uint8
    assert g.target.shape == (14400,) and g.target.dtype == np.int64
    assert np.bincount(g.target).tolist() == [400] * 36
    assert "".join(g.target_names) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    assert len(g.font_names) == 16 and g.fonts.min() == 0 and g.fonts.max() == 15
    assert "MIT" in g.DESCR and "OFL" in g.DESCR


def test_subsets_renumber_their_classes():
    letters = load_glyphs("letters")
    digits = load_glyphs("digits")
    assert letters.images.shape[0] == 26 * 400 and digits.images.shape[0] == 10 * 400
    assert sorted(set(letters.target.tolist())) == list(range(26))
    assert sorted(set(digits.target.tolist())) == list(range(10))
    assert digits.target_names == [str(d) for d in range(10)]
    everything = load_glyphs()
    np.testing.assert_array_equal(digits.images, everything.images[everything.target >= 26])


def test_images_are_dark_backgrounds_with_bright_ink():
    x = load_glyphs().images.astype(np.float64)
    assert x.max() == 255 and x.min() == 0
    # Corners are mostly background; each image has some ink.
    assert np.median(x[:, 0, 0]) == 0
    assert (x.reshape(len(x), -1).max(axis=1) > 50).all()  # the faintest: thin and blurred


def test_each_call_returns_new_writable_arrays():
    a, y = load_glyphs("digits", return_X_y=True)
    a[:] = 0
    y[:] = -1
    b, z = load_glyphs("digits", return_X_y=True)
    assert b.any() and z.min() == 0


def test_unknown_subset_names_the_choices():
    with pytest.raises(ValueError, match=r"subset must be one of \['all', 'digits', "
                                         r"'letters'\], got 'Digits'"):
        load_glyphs("Digits")
