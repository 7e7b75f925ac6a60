"""The 8x8 handwritten digits, shipped with pyfrozen: no download, no extra dependency.

Source: the test set of the UCI "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin and C. Kaynak, 1998), the same 1,797 images scikit-learn bundles as
``load_digits``. Each image is a 32x32 binary bitmap from a NIST form, divided into 4x4 blocks
whose "on" pixels were counted, giving 8x8 integers in 0..16. 13 writers; 10 classes.

The file ``data/digits.csv.gz`` is scikit-learn's ``sklearn/datasets/data/digits.csv.gz``
(from scikit-learn 1.9.1), byte for byte: 1,797 lines of 65 comma-separated integers, the 64
pixels in row-major order followed by the label. See ``data/README.md`` beside it.

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0), as stated by the UCI
Machine Learning Repository.

Citation: Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits
[Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C50P49
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

__all__ = ["Digits", "load_digits"]

_FILE = "data/digits.csv.gz"
_SIDE = 8

DESCR = """\
Optical recognition of handwritten digits (8x8), UCI ML repository test set.

1,797 images of 10 classes (digits 0..9), 13 writers. Each 32x32 bitmap was split into
non-overlapping 4x4 blocks and the "on" pixels of each block counted: an 8x8 image of integers
in 0..16.

Creator: E. Alpaydin and C. Kaynak, Bogazici University, 1998.
Source: https://archive.ics.uci.edu/dataset/80 (doi:10.24432/C50P49), as bundled by
scikit-learn (sklearn/datasets/data/digits.csv.gz). Licence: CC BY 4.0.
"""


@dataclass(frozen=True)
class Digits:
    """The digits data set, as returned by `load_digits`.

    Attributes:
        data: (n, 64) float64, pixel intensities 0..16, row-major.
        target: (n,) int64, the digit of each image.
        images: (n, 8, 8) float64, `data` reshaped (a separate array).
        target_names: (n_class,) int64, the classes 0..n_class-1.
        feature_names: the 64 column names of `data`, `pixel_<row>_<col>`.
        DESCR: a description with source, citation and licence.
    """

    data: np.ndarray
    target: np.ndarray
    images: np.ndarray
    target_names: np.ndarray
    feature_names: list[str] = field(repr=False)
    DESCR: str = field(repr=False)


@functools.lru_cache(maxsize=1)
def _read() -> np.ndarray:
    # Parsed once per process; callers get fresh arrays, so the cache is never mutated.
    with resources.files(__package__).joinpath(_FILE).open("rb") as raw, \
            gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    table.flags.writeable = False
    return table


def load_digits(*, n_class: int = 10,
                return_X_y: bool = False) -> Digits | tuple[np.ndarray, np.ndarray]:
    """Loads the 8x8 handwritten digits (1,797 images, 10 classes), shipped inside pyfrozen.

    The same content as scikit-learn's `load_digits`: float64 pixel values 0..16 and int64
    labels, in the file's order (not shuffled). Each call returns new arrays.

    Args:
        n_class: keep only the digits 0..n_class-1 (1 to 10).
        return_X_y: return `(data, target)` instead of a `Digits` object.

    Returns:
        A `Digits` (data (n, 64), target (n,), images (n, 8, 8), ...), or `(data, target)`.

    Raises:
        ValueError: `n_class` outside 1..10.

    Example:

    >>> from pyfrozen.datasets import load_digits
    >>> digits = load_digits()
    >>> digits.images.shape, digits.data.dtype, int(digits.target[0])
    ((1797, 8, 8), dtype('float64'), 0)
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> X.shape, sorted(set(y.tolist()))
    ((360, 64), [0, 1])
    """
    if isinstance(n_class, bool) or not isinstance(n_class, int | np.integer) \
            or not 1 <= n_class <= 10:
        raise ValueError(f"load_digits: n_class must be an integer in 1..10, got {n_class!r}")
    table = _read()
    table = table[table[:, -1] < n_class]
    data = table[:, :-1].astype(np.float64)
    target = table[:, -1].astype(np.int64)
    if return_X_y:
        return data, target
    return Digits(
        data=data,
        target=target,
        images=data.reshape(-1, _SIDE, _SIDE).copy(),
        target_names=np.arange(n_class, dtype=np.int64),
        feature_names=[f"pixel_{r}_{c}" for r in range(_SIDE) for c in range(_SIDE)],
        DESCR=DESCR,
    )
