"""Weight initializers with Keras 3 names, arguments and semantics, returning numpy arrays.

An initializer is called as `init(shape, dtype="float32")` and returns a new `np.ndarray`.
`get("glorot_uniform")` looks one up by name (Keras spellings: `"glorot_uniform"`,
`"GlorotUniform"`, aliases `"normal"`, `"uniform"`, `"zero"`, `"one"`), and
`get_config` / `from_config` round-trip its arguments.

Fans are computed as Keras does: a dense kernel `(in, out)` has fan_in = in, fan_out = out; a
convolution kernel `(*receptive_field, in_channels, out_channels)` (HWIO) multiplies both by the
receptive field size. A depthwise kernel `(h, w, channels, multiplier)` therefore gets
fan_in = h*w*channels, exactly as in Keras.

Seeds, as in Keras 3: an integer seed makes an initializer deterministic, and so the same
values come back on every call; `seed=None` draws such an integer once, at construction, from
Python's `random` module (so `random.seed(...)` makes unseeded initializers reproducible). To
get different values on each call, pass a `numpy.random.Generator` (Keras: a SeedGenerator).
Random values are drawn in float64 and then cast, so float32 and float64 agree for one seed.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "serialize",
]

# Standard deviation of a standard normal truncated to [-2, 2]: VarianceScaling divides by it
# so that the truncated distribution still has the requested variance.
_TRUNCATED_STDDEV = 0.87962566103423978

Seed = int | np.random.Generator | None


# --------------------------------------------------------------------------- helpers


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Returns (fan_in, fan_out) of a weight of this shape, as Keras computes them.

    Scalars count as 1; vectors use their length for both; matrices are (in, out); larger
    kernels are (*receptive_field, in, out), both fans multiplied by the receptive field size.

    Example:

    >>> compute_fans((64, 10)), compute_fans((3, 3, 32, 64))
    ((64, 10), (288, 576))
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(name: str, shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = (shape,)
    if not all(isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0
               for d in dims):
        raise ValueError(f"{name}: shape must be a tuple of non-negative integers, got {shape!r}")
    return tuple(int(d) for d in dims)


def _float_dtype(name: str, dtype: Any) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{name}: random initializers produce float32 or float64, got {resolved}")
    return resolved


def _check_seed(name: str, seed: Any) -> None:
    if seed is None or isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative int, a numpy Generator or None, "
                         f"got {seed!r}")


# --------------------------------------------------------------------------- base classes


class Initializer:
    """Base class: `__call__(shape, dtype)` returns a new array; configs round-trip."""

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments, so `from_config` rebuilds an equal initializer."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """Builds an initializer from `get_config()`'s dict."""
        return cls(**config)

    def clone(self) -> Initializer:
        return self.__class__.from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """Holds the seed: an int (fixed draws), a Generator (advancing draws) or None."""

    def __init__(self, seed: Seed = None) -> None:
        _check_seed(type(self).__name__, seed)
        self._init_seed = seed
        # Like Keras' make_default_seed: unseeded means "seeded once, at random".
        self.seed = random.randint(1, 10**9) if seed is None else seed

    def _generator(self) -> np.random.Generator:
        if isinstance(self.seed, np.random.Generator):
            return self.seed
        return np.random.default_rng(int(self.seed))

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._init_seed}


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Redraw everything beyond two standard deviations (TensorFlow's truncated_normal rule).
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values


# --------------------------------------------------------------------------- constants


class Zeros(Initializer):
    """All zeros (any numpy dtype).

    Example:

    >>> Zeros()((2, 2))
    array([[0., 0.],
           [0., 0.]], dtype=float32)
    """

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        return np.zeros(_check_shape("Zeros", shape), dtype=np.dtype(dtype))


class Ones(Initializer):
    """All ones (any numpy dtype)."""

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        return np.ones(_check_shape("Ones", shape), dtype=np.dtype(dtype))


class Constant(Initializer):
    """A constant: a scalar, or an array that broadcasts to the requested shape.

    Args:
        value: the scalar or array to fill with.
    """

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape = _check_shape("Constant", shape)
        try:
            filled = np.broadcast_to(np.asarray(self.value), shape)
        except ValueError:
            raise ValueError(f"Constant: value of shape {np.shape(self.value)} does not "
                             f"broadcast to {shape}") from None
        return filled.astype(np.dtype(dtype), copy=True)

    def get_config(self) -> dict[str, Any]:
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray | np.generic) else value}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only; rectangular allowed).

    Args:
        gain: the value on the diagonal.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape = _check_shape("Identity", shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: needs a 2-D shape, got {shape}")
        return (self.gain * np.eye(*shape)).astype(np.dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# --------------------------------------------------------------------------- plain distributions


class RandomNormal(_RandomInitializer):
    """Normal distribution with the given mean and standard deviation.

    Args:
        mean: the mean.
        stddev: the standard deviation.
        seed: an int (same values on every call), a numpy Generator (new values per call),
            or None (an int drawn at construction).
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Seed = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape, dtype = _check_shape("RandomNormal", shape), _float_dtype("RandomNormal", dtype)
        return self._generator().normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_RandomInitializer):
    """Uniform distribution between minval and maxval.

    Args:
        minval: the lower bound.
        maxval: the upper bound.
        seed: see `RandomNormal`.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Seed = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape, dtype = _check_shape("RandomUniform", shape), _float_dtype("RandomUniform", dtype)
        return self._generator().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class TruncatedNormal(_RandomInitializer):
    """Normal distribution whose values beyond two standard deviations are redrawn.

    Args:
        mean: the mean (of the untruncated distribution).
        stddev: the standard deviation of the untruncated distribution.
        seed: see `RandomNormal`.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Seed = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape = _check_shape("TruncatedNormal", shape)
        dtype = _float_dtype("TruncatedNormal", dtype)
        values = _truncated_standard_normal(self._generator(), shape)
        return (self.mean + self.stddev * values).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


# --------------------------------------------------------------------------- variance scaling


class VarianceScaling(_RandomInitializer):
    """Samples with variance `scale / n`, n the fan-in, fan-out or their mean.

    `distribution="truncated_normal"`: a normal truncated at two standard deviations, its
    stddev chosen so the variance is still `scale / n`; `"untruncated_normal"`: a normal with
    stddev `sqrt(scale / n)`; `"uniform"`: uniform on [-limit, limit], `limit = sqrt(3 scale / n)`.

    Args:
        scale: the variance scale (> 0).
        mode: `"fan_in"`, `"fan_out"` or `"fan_avg"`.
        distribution: `"truncated_normal"`, `"untruncated_normal"` or `"uniform"`.
        seed: see `RandomNormal`.

    Raises:
        ValueError: a non-positive scale, or an unknown mode or distribution.

    Example:

    >>> w = VarianceScaling(2.0, "fan_in", "uniform", seed=0)((3, 3, 16, 32))
    >>> bool(abs(w).max() <= (3 * 2.0 / (3 * 3 * 16)) ** 0.5)
    True
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Seed = None) -> None:
        name = type(self).__name__
        if not scale > 0:
            raise ValueError(f"{name}: scale must be positive, got {scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"{name}: mode must be one of {self._MODES}, got {mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"{name}: distribution must be one of {self._DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        super().__init__(seed)
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        name = type(self).__name__
        shape, dtype = _check_shape(name, shape), _float_dtype(name, dtype)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self._generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return RandomUniform(-limit, limit, seed=rng)(shape, dtype)
        if self.distribution == "untruncated_normal":
            return (math.sqrt(variance) * rng.standard_normal(shape)).astype(dtype)
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
        return (stddev * _truncated_standard_normal(rng, shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config holds only the seed (as in Keras)."""

    _ARGS: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: Seed = None) -> None:
        super().__init__(*self._ARGS, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._init_seed}


class GlorotUniform(_Preset):
    """Glorot (Xavier) uniform: limit `sqrt(6 / (fan_in + fan_out))`. Keras' default kernel init."""

    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Glorot (Xavier) normal: truncated normal, variance `2 / (fan_in + fan_out)`."""

    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Preset):
    """He normal: truncated normal, variance `2 / fan_in` (for ReLU networks)."""

    _ARGS = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """He uniform: limit `sqrt(6 / fan_in)`."""

    _ARGS = (2.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """LeCun normal: truncated normal, variance `1 / fan_in` (for SELU networks)."""

    _ARGS = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """LeCun uniform: limit `sqrt(3 / fan_in)`."""

    _ARGS = (1.0, "fan_in", "uniform")


# --------------------------------------------------------------------------- orthogonal


class Orthogonal(_RandomInitializer):
    """A random orthogonal matrix (times `gain`), for shapes of two or more dimensions.

    The shape is flattened to `(prod(shape[:-1]), shape[-1])`; the result has orthonormal
    columns when that has at least as many rows as columns, otherwise orthonormal rows.

    Args:
        gain: the factor applied to the orthogonal matrix.
        seed: see `RandomNormal`.
    """

    def __init__(self, gain: float = 1.0, seed: Seed = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape, dtype = _check_shape("Orthogonal", shape), _float_dtype("Orthogonal", dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of at least 2 dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype)
        flat = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        # Multiplying by the signs of diag(r) makes q uniformly distributed (Haar measure).
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


# --------------------------------------------------------------------------- lookup


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


_CLASSES: tuple[type[Initializer], ...] = (
    Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, LecunNormal,
    LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, Zeros)
_BY_NAME: dict[str, type[Initializer]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{_snake(cls.__name__): cls for cls in _CLASSES},
    # Keras 3's aliases.
    "normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones,
    "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity,
}


def serialize(initializer: Initializer) -> dict[str, Any]:
    """Returns `{"class_name": ..., "config": ...}`, the form `deserialize` and `get` read."""
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def deserialize(config: dict[str, Any]) -> Initializer:
    """Rebuilds an initializer from `serialize`'s dict."""
    try:
        class_name, arguments = config["class_name"], config.get("config", {})
    except (KeyError, TypeError):
        raise ValueError(f"initializers.deserialize: expected {{'class_name': ..., 'config': "
                         f"...}}, got {config!r}") from None
    return _lookup(class_name).from_config(arguments)


def _lookup(name: str) -> type[Initializer]:
    if name not in _BY_NAME:
        known = ", ".join(sorted(n for n in _BY_NAME if n.islower()))
        raise ValueError(f"unknown initializer {name!r}; known names: {known}")
    return _BY_NAME[name]


def get(identifier: Any) -> Initializer | None:
    """Returns an initializer from a name, a config dict, an instance or a callable.

    Args:
        identifier: `None` (returned as is), a name (`"he_normal"` or `"HeNormal"`), a dict
            from `serialize`, an `Initializer` or any callable `(shape, dtype) -> array`
            (returned as is), or an `Initializer` subclass (instantiated with defaults).

    Returns:
        The initializer, or None.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or identifier.

    Example:

    >>> get("glorot_uniform")((2, 3)).shape
    (2, 3)
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret initializer identifier {identifier!r}")
