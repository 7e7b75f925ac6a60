"""End to end: a MobileNet-style CNN trained with compile / fit learns the 8x8 digits.

The whole public path at once (layers, Sequential, compile with string identifiers, fit
with shuffling, BatchNormalization statistics, evaluate in inference mode) on real data,
not a toy regression: a broken gradient, optimizer or BN convention shows up as an
accuracy far below the bar. The net is a scaled-down MobileNet V1 (a conv stem, then
depthwise 3x3 + pointwise 1x1 blocks, each BN + ReLU6) sized for 8x8 inputs so the test
runs in a few seconds; the seed makes it deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.datasets import load_digits
from pyfrozen.utils import set_random_seed

SEED = 0
TEST_FRACTION = 0.2
EPOCHS = 8
MIN_ACCURACY = 0.95
# Keras's default 0.99 leaves the moving statistics near their initial values for the
# first few hundred steps; this short run has 45 steps an epoch.
BN_MOMENTUM = 0.9


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train / test arrays: NHWC images scaled to [0, 1], a fixed shuffled 80/20 split.

    The file is ordered by writer groups, so the split shuffles first (its own generator,
    independent of the training seed).
    """
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    order = np.random.default_rng(1234).permutation(len(images))
    n_test = int(round(TEST_FRACTION * len(images)))
    test, train = order[:n_test], order[n_test:]
    return images[train], digits.target[train], images[test], digits.target[test]


def block(filters: int, strides: int) -> list[layers.Layer]:
    """MobileNet's depthwise-separable block: depthwise 3x3 and pointwise 1x1, BN + ReLU6."""
    return [
        layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.ReLU6(),
        layers.Conv2D(filters, 1, use_bias=False),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.ReLU6(),
    ]


def mobilenet_digits() -> pyfrozen.Sequential:
    """8x8x1 -> conv stem (32) -> blocks 64, 128 (stride 2, 4x4) -> pool -> softmax(10)."""
    return pyfrozen.Sequential([
        pyfrozen.Input((8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.ReLU6(),
        *block(64, 1),
        *block(128, 2),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ])


@pytest.fixture
def one_thread():
    # 8x8 images give kernels too small to share: at 2 threads on a loaded machine each
    # kernel's parallel region waits for a busy core (measured: 50 s instead of 2 s). One
    # thread also fixes the bits (set_random_seed holds per thread count) on every host.
    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(1)
    yield
    pyfrozen.set_num_threads(before)


def test_mobilenet_style_cnn_learns_digits_with_fit(one_thread):
    x_train, y_train, x_test, y_test = digits_split()
    set_random_seed(SEED)
    model = mobilenet_digits()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

    chance_loss, chance_acc = model.evaluate(x_test, y_test, verbose=0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=EPOCHS, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)

    assert chance_acc < 0.5  # untrained: the bar below is earned by training
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > MIN_ACCURACY  # training accuracy, BN in batch mode
    # Test images never seen in training, BN in inference mode (its moving statistics).
    assert accuracy >= MIN_ACCURACY, f"test accuracy {accuracy:.4f} (loss {loss:.4f})"
    assert loss < chance_loss
