"""Learning-rate schedules (schedules.py) against Keras 3's formulas written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers
from pyfrozen.optimizers import schedules

STEPS = [0, 1, 7, 10, 99, 100, 101, 250, 1000, 5000]


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.96, staircase=staircase)
    for step in STEPS:
        p = step / 100
        expected = 0.1 * 0.96 ** (math.floor(p) if staircase else p)
        assert s(step) == pytest.approx(expected, rel=1e-15)


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    assert [s(k) for k in (0, 100, 101, 110, 111, 10**6)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def keras_cosine(step, initial, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(step, start):
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / decay_steps)) + alpha)

    if warmup_target is None:
        return decay(min(step, decay_steps), initial)
    step = min(step, decay_steps + warmup_steps)
    if step < warmup_steps:
        return (warmup_target - initial) * (step / warmup_steps) + initial
    return decay(step - warmup_steps, warmup_target)


@pytest.mark.parametrize("kw", [dict(), dict(alpha=0.1),
                                dict(warmup_target=0.5, warmup_steps=100),
                                dict(alpha=0.2, warmup_target=1.0, warmup_steps=10)])
def test_cosine_decay(kw):
    s = schedules.CosineDecay(0.1, 1000, **kw)
    for step in STEPS:
        assert s(step) == pytest.approx(keras_cosine(step, 0.1, 1000, **kw), rel=1e-15)
    if kw.get("warmup_target"):
        assert s(kw["warmup_steps"]) == pytest.approx(kw["warmup_target"])  # the peak
        assert s(0) == 0.1
    end = kw.get("warmup_target", 0.1) * kw.get("alpha", 0.0)
    assert s(10**7) == pytest.approx(end, abs=1e-15)


@pytest.mark.parametrize("schedule", [
    schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True, name="e"),
    schedules.PiecewiseConstantDecay([3, 8], [0.3, 0.2, 0.1]),
    schedules.CosineDecay(0.0, 50, alpha=0.1, warmup_target=0.2, warmup_steps=5),
])
def test_config_round_trips_alone_and_inside_an_optimizer(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    opt = optimizers.SGD(learning_rate=schedule, momentum=0.5)
    restored = optimizers.SGD.from_config(opt.get_config())
    assert restored.get_config() == opt.get_config()
    assert all(restored._learning_rate(k) == schedule(k) for k in STEPS)


def test_the_optimizer_calls_the_schedule_with_its_iterations():
    w = pyfrozen.Parameter(np.zeros(1), name="w")
    opt = optimizers.SGD(schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5))
    for _ in range(4):
        opt.apply([np.ones(1)], [w])
    np.testing.assert_allclose(w.data, -(1 + 0.5 + 0.25 + 0.125))
    assert opt.learning_rate == 0.0625
    assert len(opt.variables) == 1  # iterations only: no rate variable, no slots


def test_errors():
    with pytest.raises(ValueError, match=r"`decay_steps` must be > 0. Received: decay_steps=0"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match=r"`decay_steps` must be > 0. Received: decay_steps=-5"):
        schedules.CosineDecay(0.1, -5)
    with pytest.raises(ValueError, match="The length of boundaries should be 1 less than the "
                                         "length of values"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="Could not interpret learning rate schedule 'Nope'"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)
