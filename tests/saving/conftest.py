"""Shared by the Keras file tests: the Keras 3 peer fixtures and Keras-side helpers."""

from __future__ import annotations

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
