"""The demo's two tasks, cut from the bundled glyphs (pyfrozen.datasets.load_glyphs).

Source task: the 26 letters, plenty of them. Target task: the 10 digits, classes the source
never saw, with only ``shots`` training images per class; the rest of the digits score the
runs (a validation part for the learning curves, a disjoint test part for the final
accuracy). Every run's process rebuilds the same split from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyfrozen.datasets import load_glyphs

SIDE = 24
SOURCE_HELD_OUT = 40  # letters per class kept out of source training, to score it


@dataclass(frozen=True)
class Split:
    """Training and scoring arrays of one task: images (n, 24, 24, 1) float32 in [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]


def _scaled(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 24, 24) -> float32 (n, 24, 24, 1) in [0, 1], one array, no temporaries."""
    out = images[..., None].astype(np.float32)
    out /= np.float32(255)
    return out


def _per_class(y: np.ndarray, counts: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random index sets: ``counts[i]`` images of every class for part i (the
    last part takes the rest when its count is -1)."""
    parts: list[list[np.ndarray]] = [[] for _ in counts]
    for k in np.unique(y):
        order = rng.permutation(np.flatnonzero(y == k))
        start = 0
        for i, n in enumerate(counts):
            stop = len(order) if n < 0 else start + n
            parts[i].append(order[start:stop])
            start = stop
    return [rng.permutation(np.concatenate(p)) for p in parts]


def source_task(seed: int, per_class: int) -> Split:
    """The letters: ``per_class - 40`` per class to train on, 40 held out (no val part)."""
    glyphs = load_glyphs("letters")
    rng = np.random.default_rng([seed, 1])
    train, held = _per_class(glyphs.target, [per_class - SOURCE_HELD_OUT, SOURCE_HELD_OUT],
                             rng)
    x, y = glyphs.images, glyphs.target
    empty = np.zeros((0, SIDE, SIDE, 1), np.float32)
    return Split(_scaled(x[train]), y[train], empty, y[:0], _scaled(x[held]), y[held],
                 glyphs.target_names)


def target_task(seed: int, shots: int, val_per_class: int) -> Split:
    """The digits: ``shots`` per class to train on, ``val_per_class`` for the curves, the
    rest (a few hundred per class) for the test accuracy."""
    glyphs = load_glyphs("digits")
    rng = np.random.default_rng([seed, 2])
    train, val, test = _per_class(glyphs.target, [shots, val_per_class, -1], rng)
    x, y = glyphs.images, glyphs.target
    return Split(_scaled(x[train]), y[train], _scaled(x[val]), y[val], _scaled(x[test]),
                 y[test], glyphs.target_names)
