"""Gradient clipping (clipping.py): Keras's formulas, frozen elements outside every norm."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers
from pyfrozen.optimizers import clipping


def test_clip_by_norm_is_keras_formula(rng):
    g = rng.standard_normal((4, 3))
    norm = np.linalg.norm(g)
    np.testing.assert_allclose(clipping.clip_by_norm(g, None, 0.5), g * 0.5 / max(norm, 0.5))
    assert clipping.clip_by_norm(g, None, 100.0) is g  # under the limit: unchanged
    zero = np.zeros(3)
    np.testing.assert_array_equal(clipping.clip_by_norm(zero, None, 1.0), zero)


def test_frozen_elements_are_outside_the_norms(rng):
    g = rng.standard_normal(6)
    mask = np.array([True, False, True, False, False, False])
    garbage = g.copy()
    garbage[mask] = [np.nan, 1e30]
    trainable_norm = np.linalg.norm(g[~mask])
    clipped = clipping.clip_by_norm(garbage, mask, 0.1)
    np.testing.assert_allclose(clipped[~mask], g[~mask] * 0.1 / trainable_norm)
    assert clipping.squared_norm(garbage, mask) == pytest.approx(trainable_norm**2)
    other = rng.standard_normal(2)
    both = clipping.clip_by_global_norm([garbage, other], [mask, None], 0.1)
    total = np.sqrt(trainable_norm**2 + other @ other)
    np.testing.assert_allclose(both[0][~mask], g[~mask] * 0.1 / total)
    np.testing.assert_allclose(both[1], other * 0.1 / total)


def test_global_norm_under_the_limit_and_not_finite():
    grads = [np.array([0.3, 0.4]), np.array([0.0])]
    assert clipping.clip_by_global_norm(grads, [None, None], 1.0)[0] is grads[0]
    out = clipping.clip_by_global_norm([np.array([np.inf, 1.0]), np.ones(2)], [None, None], 1.0)
    assert all(np.isnan(g).all() for g in out)  # Keras: a NaN scale


def test_clip_by_value():
    np.testing.assert_array_equal(clipping.clip_by_value(np.array([-3.0, 0.5, 2.0, np.nan]), 1.0),
                                  [-1.0, 0.5, 1.0, np.nan])


@pytest.mark.parametrize("kw,scale", [(dict(clipnorm=1.0), 1 / 5), (dict(global_clipnorm=2.0),
                                                                      2 / 13),
                                      (dict(clipvalue=1.0), None)])
def test_the_optimizer_clips_before_updating(kw, scale):
    a = pyfrozen.Parameter(np.zeros(2), name="a")
    b = pyfrozen.Parameter(np.zeros(2), name="b")
    ga, gb = np.array([3.0, 4.0]), np.array([12.0, 0.0])  # norms 5 and 12, joint 13
    optimizers.SGD(learning_rate=1.0, **kw).apply([ga, gb], [a, b])
    if "clipvalue" in kw:
        np.testing.assert_allclose(a.data, [-1.0, -1.0])
        np.testing.assert_allclose(b.data, [-1.0, 0.0])
    elif "clipnorm" in kw:
        np.testing.assert_allclose(a.data, -ga / 5)
        np.testing.assert_allclose(b.data, -gb / 12)
    else:
        np.testing.assert_allclose(a.data, -ga * scale)
        np.testing.assert_allclose(b.data, -gb * scale)
