"""Shared by the saving tests: the Keras 3 peer fixtures and Keras-side helpers; random
weights and running an exported ONNX file; TensorFlow.js itself under Node.js."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def keras3_files(peer_fixtures) -> tuple[Path, np.ndarray, np.ndarray]:
    """(folder of the Keras 3 MobileNet files, inputs x, Keras's predictions y)."""
    folder = peer_fixtures / "keras3"
    data = np.load(folder / "mobilenet_025_96_io.npz")
    return folder, data["x"], data["y"]


@pytest.fixture(scope="session")
def keras_predict():
    """Keras predictions as numpy: Model.predict under the torch backend trips a numpy 2
    DeprecationWarning in torch's pytree (an error under filterwarnings=error), so the
    model is called in inference mode instead."""
    return lambda model, x: model(x, training=False).detach().cpu().numpy()


@pytest.fixture(scope="session")
def weights_bytes():
    """Every weight's bytes, in order: equal lists mean bit-identical weights."""
    return lambda model: [w.numpy().tobytes() for w in model.weights]


def _randomize(model, seed: int = 0) -> None:
    """Biases, BatchNormalization's scales and moving statistics random (variances
    positive), so that each matters in the comparison. Kernels keep their (random,
    variance-preserving) initial values: N(0, 0.5) kernels blow MobileNet's logits up
    to ~40, where float32 rounding alone differs by 1e-3 between any two runtimes."""
    rng = np.random.default_rng(seed)
    draw = {"moving_variance": lambda s: rng.uniform(0.5, 1.5, s),
            "gamma": lambda s: rng.uniform(0.7, 1.3, s),
            "moving_mean": lambda s: rng.normal(0.0, 0.2, s),
            "beta": lambda s: rng.normal(0.0, 0.2, s), "bias": lambda s: rng.normal(0.0, 0.2, s)}
    values = [draw[w.name](w.shape) if w.name in draw else w.data for w in model.weights]
    model.set_weights([np.asarray(v, w.dtype) for v, w in zip(values, model.weights,
                                                              strict=True)])


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


@pytest.fixture(scope="session")
def tfjs_node() -> tuple[str, dict[str, str]]:
    """(node, environment) that run TensorFlow.js itself (tests/saving/tfjs_*.js).

    An optional oracle like torch: Node.js with @tensorflow/tfjs 4.22.0 found through
    ``PYFROZEN_TFJS_NODE_MODULES`` (a node_modules folder); skipped for users without it,
    a failure in CI (PYFROZEN_REQUIRE_TORCH=1).
    """
    node = shutil.which("node")
    env = {**os.environ, "NODE_PATH": os.environ.get("PYFROZEN_TFJS_NODE_MODULES", "")}
    found = node is not None and subprocess.run(
        [node, "-e", "require.resolve('@tensorflow/tfjs')"], env=env,
        capture_output=True).returncode == 0
    if not found:
        message = ("optional oracle missing: tfjs (Node.js with @tensorflow/tfjs: npm install "
                   "@tensorflow/tfjs@4.22.0, then set PYFROZEN_TFJS_NODE_MODULES to that "
                   "node_modules folder)")
        if os.environ.get("PYFROZEN_REQUIRE_TORCH") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return node, env
