"""pyfrozen.initializers: Keras 3 initializers (names, fans, statistics, seeds, configs)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from pyfrozen import initializers as init

BIG = (512, 512)  # enough samples for variances within ~1%
TRUNC = 0.87962566103423978

RANDOM = [init.RandomNormal, init.RandomUniform, init.TruncatedNormal, init.VarianceScaling,
          init.GlorotUniform, init.GlorotNormal, init.HeNormal, init.HeUniform,
          init.LecunNormal, init.LecunUniform, init.Orthogonal]
ALL = [init.Zeros, init.Ones, init.Constant, init.Identity, *RANDOM]


# --------------------------------------------------------------------------- fans


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((64, 10), (64, 10)),                    # dense (in, out)
    ((3, 3, 32, 64), (288, 576)),            # conv2d HWIO
    ((1, 1, 512, 1024), (512, 1024)),        # pointwise conv
    ((3, 3, 32, 1), (288, 9)),               # depthwise (h, w, channels, multiplier), as Keras
    ((5, 16, 8), (80, 40)),                  # conv1d
    ((2, 3, 3, 4, 8), (72, 144)),            # conv3d
])
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


# --------------------------------------------------------------------------- shapes and dtypes


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.dtype("float64")])
def test_shapes_and_dtypes(cls, dtype):
    shape = (4, 4) if cls is init.Identity else (3, 3, 4, 8)
    values = cls()(shape, dtype=dtype)
    assert isinstance(values, np.ndarray)
    assert values.shape == shape and values.dtype == np.dtype(dtype)
    assert np.isfinite(values).all()


@pytest.mark.parametrize("cls", ALL)
def test_default_dtype_is_float32(cls):
    assert cls()((2, 2)).dtype == np.float32


@pytest.mark.parametrize("cls", RANDOM)
def test_random_initializers_want_a_float_dtype(cls):
    with pytest.raises(TypeError, match=f"{cls.__name__}: random initializers produce float32 "
                                        "or float64, got int64"):
        cls()((2, 2), dtype="int64")


def test_constant_initializers_take_any_dtype():
    assert init.Zeros()((2,), "int64").dtype == np.int64
    assert init.Ones()((2,), "int32").tolist() == [1, 1]
    np.testing.assert_array_equal(init.Constant(3)((2, 2), "int64"), np.full((2, 2), 3))


@pytest.mark.parametrize("shape", [(-1, 2), (2.5,), ("3",), (True, 2)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape must be a tuple of non-negative integers"):
        init.GlorotUniform()(shape)


def test_int_shape_and_numpy_ints_are_accepted():
    assert init.Zeros()(5).shape == (5,)
    assert init.HeNormal()((np.int64(3), np.int32(4))).shape == (3, 4)


def test_empty_shapes():
    for cls in RANDOM:
        assert cls()((0, 4)).shape == (0, 4)


# --------------------------------------------------------------------------- constants


def test_zeros_ones_constant():
    assert not init.Zeros()((3, 2)).any()
    assert (init.Ones()((3, 2)) == 1).all()
    np.testing.assert_array_equal(init.Constant(0.5)((2, 3)), np.full((2, 3), 0.5, np.float32))


def test_constant_broadcasts_arrays():
    row = np.array([1.0, 2.0, 3.0])
    values = init.Constant(row)((2, 3))
    np.testing.assert_array_equal(values, [row, row])
    values[0, 0] = 9  # a copy, never a view of the value
    assert row[0] == 1
    with pytest.raises(ValueError, match=r"value of shape \(3,\) does not broadcast to \(2, 2\)"):
        init.Constant(row)((2, 2))


def test_identity():
    np.testing.assert_array_equal(init.Identity(2.0)((2, 3)), [[2, 0, 0], [0, 2, 0]])
    with pytest.raises(ValueError, match="needs a 2-D shape"):
        init.Identity()((2, 2, 2))


# --------------------------------------------------------------------------- statistics


def test_random_normal_statistics():
    values = init.RandomNormal(mean=1.0, stddev=0.5, seed=1)(BIG, "float64")
    assert values.mean() == pytest.approx(1.0, abs=0.005)
    assert values.std() == pytest.approx(0.5, rel=0.01)


def test_random_uniform_statistics_and_limits():
    values = init.RandomUniform(-0.2, 0.6, seed=1)(BIG)
    assert values.min() >= -0.2 and values.max() <= 0.6
    assert values.min() < -0.199 and values.max() > 0.599
    assert values.var() == pytest.approx(0.8**2 / 12, rel=0.01)


def test_truncated_normal_is_cut_at_two_stddevs():
    values = init.TruncatedNormal(mean=0.5, stddev=0.1, seed=1)(BIG, "float64")
    assert np.abs(values - 0.5).max() <= 0.2
    assert np.abs(values - 0.5).max() > 0.199
    assert values.mean() == pytest.approx(0.5, abs=0.001)
    assert values.std() == pytest.approx(0.1 * TRUNC, rel=0.01)


def test_default_arguments_match_keras():
    assert init.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert init.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert init.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert init.VarianceScaling().get_config() == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}
    assert init.Constant().get_config() == {"value": 0.0}


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_scaling_variance(mode, distribution):
    shape = (3, 3, 64, 128)  # fan_in 576, fan_out 1152: 73,728 samples
    fan_in, fan_out = 576, 1152
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    values = init.VarianceScaling(2.0, mode, distribution, seed=3)(shape, "float64")
    assert values.var() == pytest.approx(2.0 / fan, rel=0.02)
    assert abs(values.mean()) < 0.01 * math.sqrt(2.0 / fan)
    if distribution == "uniform":
        assert np.abs(values).max() <= math.sqrt(3 * 2.0 / fan)
    if distribution == "truncated_normal":
        assert np.abs(values).max() <= 2 * math.sqrt(2.0 / fan) / TRUNC


@pytest.mark.parametrize("cls, variance, limit", [
    (init.GlorotUniform, lambda fi, fo: 2 / (fi + fo), lambda fi, fo: math.sqrt(6 / (fi + fo))),
    (init.GlorotNormal, lambda fi, fo: 2 / (fi + fo), None),
    (init.HeNormal, lambda fi, fo: 2 / fi, None),
    (init.HeUniform, lambda fi, fo: 2 / fi, lambda fi, fo: math.sqrt(6 / fi)),
    (init.LecunNormal, lambda fi, fo: 1 / fi, None),
    (init.LecunUniform, lambda fi, fo: 1 / fi, lambda fi, fo: math.sqrt(3 / fi)),
])
@pytest.mark.parametrize("shape", [(300, 700), (3, 3, 96, 160)], ids=["dense", "conv"])
def test_presets_variance_and_limits(cls, variance, limit, shape):
    fan_in, fan_out = init.compute_fans(shape)
    values = cls(seed=0)(shape, "float64")
    assert values.var() == pytest.approx(variance(fan_in, fan_out), rel=0.02)
    if limit is not None:
        bound = limit(fan_in, fan_out)
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound


def test_presets_are_variance_scaling():
    he = init.HeNormal(seed=4)
    assert isinstance(he, init.VarianceScaling)
    assert (he.scale, he.mode, he.distribution) == (2.0, "fan_in", "truncated_normal")
    same = init.VarianceScaling(2.0, "fan_in", "truncated_normal", seed=4)
    np.testing.assert_array_equal(he((5, 6)), same((5, 6)))


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": 0.0}, "scale must be positive"),
    ({"scale": -1.0}, "scale must be positive"),
    ({"mode": "fan_sum"}, "mode must be one of"),
    ({"distribution": "normal"}, "distribution must be one of"),
])
def test_variance_scaling_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        init.VarianceScaling(**kwargs)


# --------------------------------------------------------------------------- orthogonal


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (40, 40), (3, 3, 8, 16)])
def test_orthogonal(shape):
    values = init.Orthogonal(gain=2.0, seed=0)(shape, "float64")
    flat = values.reshape(-1, shape[-1]) / 2.0
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.Orthogonal()((5,))


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("cls", RANDOM)
def test_int_seed_is_reproducible(cls):
    first = cls(seed=42)((16, 8))
    np.testing.assert_array_equal(first, cls(seed=42)((16, 8)))
    # Keras 3 semantics: an int-seeded initializer returns the same values on every call.
    same_instance = cls(seed=42)
    np.testing.assert_array_equal(same_instance((16, 8)), same_instance((16, 8)))
    assert not np.array_equal(first, cls(seed=43)((16, 8)))


@pytest.mark.parametrize("cls", RANDOM)
def test_generator_seed_advances(cls):
    a = cls(seed=np.random.default_rng(7))
    first, second = a((16, 8)), a((16, 8))
    assert not np.array_equal(first, second)
    b = cls(seed=np.random.default_rng(7))
    np.testing.assert_array_equal(first, b((16, 8)))


def test_unseeded_draws_its_seed_from_python_random():
    random.seed(0)
    a = init.GlorotUniform()
    random.seed(0)
    b = init.GlorotUniform()
    np.testing.assert_array_equal(a((8, 8)), b((8, 8)))
    np.testing.assert_array_equal(a((8, 8)), a((8, 8)))  # fixed once constructed, as Keras
    assert not np.array_equal(a((8, 8)), init.GlorotUniform()((8, 8)))


@pytest.mark.parametrize("cls", RANDOM)
def test_float32_is_float64_rounded(cls):
    np.testing.assert_array_equal(cls(seed=5)((6, 7), "float32"),
                                  cls(seed=5)((6, 7), "float64").astype(np.float32))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int, a numpy Generator"):
        init.RandomNormal(seed=seed)


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("make", [
    lambda: init.Zeros(), lambda: init.Ones(), lambda: init.Constant(np.array([1.0, 2.0])),
    lambda: init.Identity(0.5), lambda: init.RandomNormal(0.1, 0.2, seed=1),
    lambda: init.RandomUniform(-1.0, 2.0, seed=1), lambda: init.TruncatedNormal(seed=1),
    lambda: init.VarianceScaling(0.5, "fan_avg", "uniform", seed=1),
    lambda: init.GlorotUniform(seed=1), lambda: init.GlorotNormal(seed=1),
    lambda: init.HeNormal(seed=1), lambda: init.HeUniform(seed=1),
    lambda: init.LecunNormal(seed=1), lambda: init.LecunUniform(seed=1),
    lambda: init.Orthogonal(1.5, seed=1),
])
def test_config_round_trip(make):
    original = make()
    config = original.get_config()
    rebuilt = type(original).from_config(config)
    assert rebuilt.get_config() == config
    np.testing.assert_array_equal(original((2, 2)), rebuilt((2, 2)))
    for copy in (original.clone(), init.deserialize(init.serialize(original)),
                 init.get(init.serialize(original))):
        assert type(copy) is type(original) and copy.get_config() == config
        np.testing.assert_array_equal(original((2, 2)), copy((2, 2)))


def test_preset_config_holds_only_the_seed():
    assert init.GlorotUniform(seed=3).get_config() == {"seed": 3}
    assert init.HeNormal().get_config() == {"seed": None}
    assert init.serialize(init.HeUniform(seed=2)) == {"class_name": "HeUniform",
                                                      "config": {"seed": 2}}
    assert repr(init.RandomUniform(seed=2)) == "RandomUniform(minval=-0.05, maxval=0.05, seed=2)"


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize("name, cls", [
    ("glorot_uniform", init.GlorotUniform), ("GlorotUniform", init.GlorotUniform),
    ("glorot_normal", init.GlorotNormal), ("he_normal", init.HeNormal),
    ("he_uniform", init.HeUniform), ("lecun_normal", init.LecunNormal),
    ("lecun_uniform", init.LecunUniform), ("zeros", init.Zeros), ("ones", init.Ones),
    ("constant", init.Constant), ("random_normal", init.RandomNormal),
    ("random_uniform", init.RandomUniform), ("truncated_normal", init.TruncatedNormal),
    ("variance_scaling", init.VarianceScaling), ("orthogonal", init.Orthogonal),
    ("identity", init.Identity), ("normal", init.RandomNormal), ("uniform", init.RandomUniform),
    ("zero", init.Zeros), ("one", init.Ones), ("OrthogonalInitializer", init.Orthogonal),
])
def test_get_by_name(name, cls):
    assert type(init.get(name)) is cls


def test_get_passes_through_and_instantiates():
    he = init.HeNormal()
    assert init.get(he) is he
    assert init.get(None) is None

    def custom(shape, dtype="float32"):
        return np.full(shape, 7.0, dtype)

    assert init.get(custom) is custom
    assert type(init.get(init.LecunUniform)) is init.LecunUniform


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'; known names: ") as info:
        init.get("glorot")
    for name in ("glorot_uniform", "he_normal", "zeros", "orthogonal", "variance_scaling"):
        assert name in str(info.value)


def test_bad_identifiers():
    with pytest.raises(ValueError, match="could not interpret initializer identifier 3"):
        init.get(3)
    with pytest.raises(ValueError, match="expected {'class_name'"):
        init.get({"config": {}})
    with pytest.raises(ValueError, match="unknown initializer 'Nope'"):
        init.deserialize({"class_name": "Nope", "config": {}})
