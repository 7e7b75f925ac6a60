"""pyfrozen.datasets.load_digits: the UCI 8x8 digits shipped inside the package."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.datasets import Digits, digits, load_digits

# scikit-learn 1.9.1's sklearn/datasets/data/digits.csv.gz, shipped unchanged.
SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_data_file_is_installed_unchanged():
    data_file = resources.files("pyfrozen.datasets").joinpath("data/digits.csv.gz")
    assert data_file.is_file()
    # The installed package (the wheel), not the checkout, holds it.
    assert Path(str(data_file)).is_relative_to(Path(pyfrozen.__file__).parent)
    assert hashlib.sha256(data_file.read_bytes()).hexdigest() == SHA256
    assert resources.files("pyfrozen.datasets").joinpath("data/README.md").is_file()


def test_shapes_dtypes_and_counts():
    d = load_digits()
    assert isinstance(d, Digits)
    assert d.data.shape == (1797, 64) and d.data.dtype == np.float64
    assert d.target.shape == (1797,) and d.target.dtype == np.int64
    assert d.images.shape == (1797, 8, 8) and d.images.dtype == np.float64
    assert np.bincount(d.target).tolist() == CLASS_COUNTS
    np.testing.assert_array_equal(d.target_names, np.arange(10))
    assert len(d.feature_names) == 64 and d.feature_names[9] == "pixel_1_1"


def test_values_are_counts_0_to_16():
    d = load_digits()
    assert d.data.min() == 0 and d.data.max() == 16
    np.testing.assert_array_equal(d.data, np.round(d.data))
    # Every class uses the range; the border columns are mostly empty (centred digits).
    assert d.data[:, 0].max() == 0 and d.data.mean() == pytest.approx(4.88, abs=0.01)


def test_first_image_is_a_zero_in_file_order():
    d = load_digits()
    assert d.target[:10].tolist() == list(range(10))
    np.testing.assert_array_equal(d.images[0, 0], [0, 0, 5, 13, 9, 1, 0, 0])
    np.testing.assert_array_equal(d.images[0, 1], [0, 0, 13, 15, 10, 15, 5, 0])


def test_images_are_the_data_reshaped():
    d = load_digits()
    np.testing.assert_array_equal(d.images.reshape(-1, 64), d.data)
    assert not np.shares_memory(d.images, d.data)


def test_return_X_y():
    X, y = load_digits(return_X_y=True)
    d = load_digits()
    np.testing.assert_array_equal(X, d.data)
    np.testing.assert_array_equal(y, d.target)


@pytest.mark.parametrize("n_class", [1, 2, 5, 10])
def test_n_class_keeps_the_first_classes(n_class):
    X, y = load_digits(n_class=n_class, return_X_y=True)
    assert len(X) == len(y) == sum(CLASS_COUNTS[:n_class])
    assert set(y.tolist()) == set(range(n_class))
    assert load_digits(n_class=n_class).target_names.tolist() == list(range(n_class))


@pytest.mark.parametrize("n_class", [0, 11, -1, 2.0, True, "10"])
def test_bad_n_class(n_class):
    with pytest.raises(ValueError, match="n_class must be an integer in 1..10"):
        load_digits(n_class=n_class)


def test_each_call_returns_new_arrays():
    first = load_digits()
    first.data[:] = -1
    first.target[:] = -1
    second = load_digits()
    assert second.data.min() == 0 and second.target.min() == 0
    assert second.data.flags.writeable


def test_descr_states_source_and_licence():
    d = load_digits()
    assert "CC BY 4.0" in d.DESCR and "10.24432/C50P49" in d.DESCR
    assert "CC BY 4.0" in digits.__doc__ and "Alpaydin" in digits.__doc__
