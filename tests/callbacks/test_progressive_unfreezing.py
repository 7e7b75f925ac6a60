"""ProgressiveUnfreezing during fit: groups start training exactly at their scheduled
epochs (top first), BatchNormalization stays frozen, optimizer state exists only for
unfrozen weights, a late group's first Adam step is a first step, and per-group rates."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers


def _model():
    """input -> c1 -> bn1 -> c2 -> bn2 -> pool -> head; c1/bn1 lowest, head on top."""
    inputs = pyfrozen.Input((6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Conv2D(3, 3, padding="same", name="c2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return pyfrozen.Model(inputs, layers.Dense(3, name="head")(x))


def _data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 8)


class _Snapshots(pyfrozen.callbacks.Callback):
    """Copies of every weight at each epoch end, and around the first batch of each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs, self.first = [], []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self._before = _values(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            after = _values(self.model)
            self.first.append((self._before, after))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(_values(self.model))


def _named(model):
    """(layer/weight, weight) for every weight of the model."""
    return [(f"{layer.name}/{w.name}", w) for layer in model.layers for w in layer.weights]


def _values(model):
    return {key: w.data.copy() for key, w in _named(model)}


def _moved(a, b):
    return sorted(k for k in a if a[k].tobytes() != b[k].tobytes())


def test_groups_start_moving_exactly_at_their_epochs():
    x, y = _data()
    model = _model()
    start = _values(model)
    unfreezing = pyfrozen.callbacks.ProgressiveUnfreezing([["c2", "bn2"], "*1"],
                                                          schedule={1: 1, 3: 2})
    snaps = _Snapshots()
    model.compile(pyfrozen.optimizers.SGD(0.1, momentum=0.9),
                  loss=pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[unfreezing, snaps])
    e = [start, *snaps.epochs]  # e[k]: weights before epoch k
    head = ["head/bias", "head/kernel"]
    c2 = ["c2/bias", "c2/kernel"]
    c1 = ["c1/bias", "c1/kernel"]
    assert _moved(e[0], e[1]) == head
    assert _moved(e[1], e[2]) == sorted(c2 + head)
    assert _moved(e[2], e[3]) == sorted(c2 + head)
    assert _moved(e[3], e[4]) == sorted(c1 + c2 + head)
    # BN (gamma, beta and moving statistics) never moved: keep_bn_frozen
    assert not [k for k in _moved(e[0], e[5]) if k.startswith("bn")]
    assert unfreezing.unfrozen == 2


def test_optimizer_state_only_for_unfrozen_weights_and_a_first_adam_step():
    x, y = _data()
    model = _model()
    model.freeze("*1")  # outside the groups: stays frozen
    lr = 0.01
    snaps = _Snapshots()
    model.compile(pyfrozen.optimizers.Adam(lr),
                  loss=pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = pyfrozen.callbacks.ProgressiveUnfreezing(["*2"], schedule={2: 1})
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[cb, snaps])
    opt = model.optimizer
    with_state = sorted(k for k, w in _named(model) if opt.state_of(w) is not None)
    assert with_state == ["head/bias", "head/kernel"]
    n_vars = len(opt.variables)
    model.fit(x, y, batch_size=4, epochs=3, initial_epoch=2, verbose=0,
              callbacks=[cb, snaps])
    with_state = sorted(k for k, w in _named(model) if opt.state_of(w) is not None)
    assert with_state == ["c2/bias", "c2/kernel", "head/bias", "head/kernel"]
    assert len(opt.variables) > n_vars
    assert opt.state_of(model.get_layer("c2").kernel)["step"] == 2  # 2 batches, epoch 2
    # Adam's first update of c2 (at global step 5) is a first step: |dw| = lr * |g| /
    # (|g| + eps'), lr per element up to epsilon; bias-corrected with the global step
    # count (5) it would be ~0.55 * lr.
    before, after = snaps.first[2]
    step = np.abs(after["c2/kernel"] - before["c2/kernel"]).ravel()
    assert np.all(step <= lr * (1 + 1e-5))
    assert np.median(step) > 0.995 * lr


def test_lr_multipliers_per_group_and_bad_arguments():
    x, y = _data()
    model = _model()
    model.compile(pyfrozen.optimizers.SGD(0.1),
                  loss=pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = pyfrozen.callbacks.ProgressiveUnfreezing(["?2", "?1"], schedule={0: 2},
                                                  lr_multipliers=[0.5, 0.0])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert model.optimizer.lr_multipliers == {"?2": 0.5, "?1": 0.0}
    assert "c1/kernel" in model.optimizer.resolve_lr_multipliers(model)
    with pytest.raises(ValueError, match="match no layer of model.*'c1', 'bn1'"):
        model.fit(x, y, verbose=0, callbacks=[pyfrozen.callbacks.ProgressiveUnfreezing(
            ["conv*"], schedule={0: 1})])
    with pytest.raises(ValueError, match=r"number of groups in \[0, 1\]"):
        pyfrozen.callbacks.ProgressiveUnfreezing(["c1"], schedule={0: 2})
    with pytest.raises(ValueError, match="one finite number >= 0 per group"):
        pyfrozen.callbacks.ProgressiveUnfreezing(["c1"], {0: 1}, lr_multipliers=[1, 2])
