"""Helpers of the ONNX export tests: random weights and running an exported file."""

from __future__ import annotations

import numpy as np
import pytest


def _randomize(model, seed: int = 0) -> None:
    """Every weight random (moving variances positive), so that BatchNormalization's
    moving statistics, biases and scales all matter in the comparison."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        if w.name == "moving_variance":
            values.append(rng.uniform(0.5, 1.5, w.shape))
        elif w.name == "gamma":
            values.append(rng.uniform(0.5, 1.5, w.shape))
        else:
            values.append(rng.normal(0.0, 0.5, w.shape))
    model.set_weights([v.astype(w.dtype) for v, w in zip(values, model.weights, strict=True)])


@pytest.fixture
def randomize():
    """``randomize(model, seed=0)``: sets every weight of ``model`` at random."""
    return _randomize


@pytest.fixture
def run_onnx(onnx, onnxruntime, tmp_path):
    """``run(model, *inputs, **export_kw)``: exports ``model`` to a file, runs it in
    onnxruntime and returns (outputs, session); inputs are given by position."""
    def run(model, *inputs, path=None, **export_kw):
        path = path or tmp_path / "model.onnx"
        model.export(str(path), format="onnx", **export_kw)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)}
        return session.run(None, feed), session
    return run


@pytest.fixture
def max_error(run_onnx):
    """``max_error(model, x)``: the largest |onnxruntime - predict| over the outputs."""
    def compare(model, *inputs, **export_kw):
        got, _ = run_onnx(model, *inputs, **export_kw)
        expected = model.predict(list(inputs) if len(inputs) > 1 else inputs[0], verbose=0)
        expected = expected if isinstance(expected, list) else [expected]
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype)
        return max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected, strict=True))
    return compare
