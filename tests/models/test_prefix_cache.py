"""The frozen prefix: tape-free every step, and fit(cache_frozen_features=True), which
computes it once per sample and recomputes it when freezing or a prefix weight changes."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import callbacks, optimizers
from pyfrozen.autograd import trace
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    Input,
    ReLU,
)
from pyfrozen.models import feature_cache
from pyfrozen.models.prefix import FlatGraph
from pyfrozen.utils import set_random_seed

BASE_LAYERS = ["c1", "bn1", "r1", "dw", "bn2", "r2", "pw"]


def transfer_model(seed: int = 0) -> pyfrozen.Model:
    """A frozen base called with training=False, GAP, Dropout and a new head."""
    set_random_seed(seed)
    inputs = Input((8, 8, 2))
    x = Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inputs)
    x = BatchNormalization(name="bn1")(x)
    x = ReLU(6.0, name="r1")(x)
    x = DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = BatchNormalization(name="bn2")(x)
    x = ReLU(6.0, name="r2")(x)
    base = pyfrozen.Model(inputs, Conv2D(6, 1, name="pw")(x), name="base")
    rng = np.random.default_rng(seed)
    for name in ("bn1", "bn2"):  # statistics away from their defaults
        bn = base.get_layer(name)
        bn.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype(w.dtype)
                        for w in bn.get_weights()])
    base.trainable = False
    outer = Input((8, 8, 2))
    x = base(outer, training=False)
    x = GlobalAveragePooling2D(name="gap")(x)
    x = Dropout(0.3, name="drop")(x)
    model = pyfrozen.Model(outer, Dense(3, activation="softmax", name="head")(x))
    model.compile(optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, n)


def fit(cache: bool, change=None, epochs: int = 3, **kwargs):
    model = transfer_model()
    x, y = data()
    cbs = [callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: change(model, epoch))
           ] if change else []
    set_random_seed(7)  # the same shuffling and dropout in both runs
    history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=cbs,
                        cache_frozen_features=cache, **kwargs)
    return model, history.history


def assert_same_weights(a: pyfrozen.Model, b: pyfrozen.Model) -> None:
    # Bit-identical: each sample's prefix output does not depend on the batch it is
    # computed in (the kernels reduce in a fixed order), so caching changes nothing.
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.name)


# --- the prefix ---------------------------------------------------------------------------


def test_the_prefix_opens_the_nested_base_and_stops_at_dropout():
    model = transfer_model()
    split = FlatGraph(model).split(training=True)
    assert [s.layer.name for s in split.prefix] == [*BASE_LAYERS, "gap"]
    assert [s.layer.name for s in split.rest] == ["drop", "head"]
    # In inference mode Dropout passes its input through: the validation cache is deeper.
    assert [s.layer.name for s in FlatGraph(model).split(training=False).rest] == ["head"]
    model.unfreeze("pw")  # fine-tuning the top of the base: its bottom stays cached
    split = FlatGraph(model).split(training=True)
    assert [s.layer.name for s in split.prefix] == BASE_LAYERS[:-1]
    assert [s.layer.name for s in split.rest] == ["pw", "gap", "drop", "head"]


def test_a_frozen_base_runs_tape_free_and_costs_one_forward():
    model = transfer_model()
    x, y = data(8)
    model.train_on_batch(x, y)  # builds the optimizer state
    with trace() as forward_only:
        model.predict_on_batch(x)
    with trace() as step:
        model.train_on_batch(x, y)
    for layer in BASE_LAYERS:
        assert not [r for r in step.ran(layer=layer) if r.pass_ != "forward"], layer
        assert layer not in step.by_layer()  # nothing recorded, nothing saved
    # Its conv -> BN -> ReLU6 chains run as one convolution each (models/fusion.py).
    assert {r.layer for r in step.kernels if r.layer in BASE_LAYERS} == {"c1", "dw", "pw"}
    assert step.ran(layer="head", pass_="backward_weight")
    base_work = [(r.layer, r.kernel, r.calls, r.work) for r in step.kernels
                 if r.layer in BASE_LAYERS]
    assert base_work == [(r.layer, r.kernel, r.calls, r.work) for r in forward_only.kernels
                         if r.layer in BASE_LAYERS]


# --- the cache ----------------------------------------------------------------------------


def test_cached_fit_trains_as_the_uncached_fit_with_the_prefix_run_once():
    with trace() as uncached_trace:
        uncached, h1 = fit(False, validation_split=0.25)
    with trace() as cached_trace:
        cached, h2 = fit(True, validation_split=0.25)
    assert_same_weights(cached, uncached)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(h2[key], h1[key], err_msg=key)
    # 30 training + 10 validation samples in batches of 8: the base ran 4 + 2 times,
    # instead of 3 epochs x (4 + 2) batches.
    assert sum(r.calls for r in cached_trace.ran(layer="c1", kernel="conv2d")) == 4 + 2
    assert sum(r.calls for r in uncached_trace.ran(layer="c1", kernel="conv2d")) == 3 * (4 + 2)
    assert not cached_trace.ran(layer="pw", pass_="backward_input")


def test_cached_steps_run_only_the_layers_above_the_cut():
    model = transfer_model()
    x, y = data(16)
    cache = feature_cache.FeatureCache(model, x, 8, training=True)
    (batch,) = [b for _, b in cache.batches([(0, (np.arange(8), y[:8], None))])]
    with trace() as t:
        out = model.train_step(batch)
    assert set(t.layers()) <= {"drop", "head", "sparse_categorical_crossentropy"} | {
        r.layer for r in t.kernels if r.layer not in BASE_LAYERS}
    assert not [r for r in t.kernels if r.layer in BASE_LAYERS]
    assert np.isfinite(out["loss"])


def _scale_c1(model, epoch):
    if epoch == 1:
        c1 = model.get_layer("base").get_layer("c1")
        c1.set_weights([w * 0.5 for w in c1.get_weights()])


def _move_bn_statistics(model, epoch):
    if epoch == 1:
        bn = model.get_layer("base").get_layer("bn2")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([gamma, beta, mean + 1.0, var * 2.0])


def _unfreeze_pw(model, epoch):
    if epoch == 1:
        model.unfreeze("pw")


def _unmask_half_of_pw(model, epoch):
    kernel = model.get_layer("base").get_layer("pw").kernel
    if epoch == 0:  # trainable, but every element masked: still frozen, still cached
        model.unfreeze("pw")
        kernel.set_freeze_mask(np.ones(kernel.shape, bool))
    if epoch == 1:
        mask = np.ones(kernel.shape, bool)
        mask[..., :3] = False
        kernel.set_freeze_mask(mask)


@pytest.mark.filterwarnings("ignore:.*the trainable weights changed since compile")
@pytest.mark.parametrize("change", [_scale_c1, _move_bn_statistics, _unfreeze_pw,
                                    _unmask_half_of_pw])
def test_the_cache_is_dropped_when_the_prefix_changes(change):
    untouched, _ = fit(True)
    uncached, _ = fit(False, change)
    cached, _ = fit(True, change)
    assert_same_weights(cached, uncached)
    head = untouched.get_layer("head").kernel.numpy()
    assert not np.allclose(head, cached.get_layer("head").kernel.numpy(), rtol=1e-4)


def test_a_fully_unfrozen_model_trains_on_the_raw_inputs():
    def unfreeze_all(model, epoch):
        if epoch == 1:
            model.unfreeze("*", include_bn=True)

    uncached, _ = fit(False, unfreeze_all)
    cached, _ = fit(True, unfreeze_all)
    assert_same_weights(cached, uncached)


# --- errors -------------------------------------------------------------------------------


def test_errors_name_what_stops_the_cache():
    x, y = data(8)
    model = transfer_model()
    with pytest.raises(ValueError, match="NumPy arrays; x is a generator"):
        model.fit(((x, y) for _ in range(2)), epochs=1, verbose=0, cache_frozen_features=True)
    model.unfreeze("*")
    with pytest.raises(ValueError, match="no frozen layers at the bottom.*'c1' \\(Conv2D\\) "
                                         "has trainable weights"):
        model.fit(x, y, verbose=0, cache_frozen_features=True)

    inputs = Input((4,))
    h = Dense(4, name="frozen", trainable=False)(Dropout(0.5, name="noise")(inputs))
    noisy = pyfrozen.Model(inputs, Dense(2, name="top")(h))
    noisy.compile("sgd", "mse")
    with pytest.raises(ValueError, match="'noise' \\(Dropout\\) changes in training mode .* "
                                         "sits below the frozen layer 'frozen'"):
        noisy.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0, cache_frozen_features=True)


def test_custom_train_steps_and_subclassed_models_are_refused():
    class Custom(pyfrozen.Model):
        def train_step(self, data):
            return super().train_step(data)

    inputs = Input((4,))
    frozen = Dense(4, trainable=False)(inputs)
    custom = Custom(inputs, Dense(2)(frozen))
    custom.compile("sgd", "mse")
    with pytest.raises(ValueError, match="Custom overrides train_step"):
        custom.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0, cache_frozen_features=True)

    class Subclassed(pyfrozen.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(2)

        def call(self, x):
            return self.dense(x)

    sub = Subclassed()
    sub.compile("sgd", "mse")
    with pytest.raises(ValueError, match="defines its own call"):
        sub.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0, cache_frozen_features=True)


def test_a_large_cache_warns(monkeypatch):
    monkeypatch.setattr(feature_cache, "WARN_BYTES", 100)
    model = transfer_model()
    x, y = data(16)
    with pytest.warns(ResourceWarning, match=r"cache holds .* MiB \(16 samples .* cut \['gap'\]"):
        model.fit(x, y, batch_size=8, verbose=0, cache_frozen_features=True)


def test_cached_fit_with_class_weights_dict_inputs_and_validation_data():
    x, y = data()
    xv, yv = data(12, seed=5)
    runs = []
    for cache in (False, True):
        model = transfer_model()
        name = model.inputs[0].name
        set_random_seed(7)
        history = model.fit({name: x}, y, batch_size=8, epochs=2, verbose=0,
                            class_weight={0: 2.0, 1: 0.5, 2: 1.0}, steps_per_epoch=2,
                            validation_data=({name: xv}, yv), cache_frozen_features=cache)
        runs.append((model, history.history))
    assert_same_weights(runs[1][0], runs[0][0])
    assert runs[1][1] == runs[0][1]


class Block(pyfrozen.layers.Layer):
    """A user layer whose call takes no ``training``: its sub-layers inherit the call's."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(4, name="inner")
        self.drop = Dropout(rate, name="inner_drop")

    def call(self, x):
        return self.drop(self.dense(x))


def _block_model(rate: float) -> pyfrozen.Model:
    set_random_seed(3)
    inputs = Input((4,))
    block = Block(rate, name="blk")
    model = pyfrozen.Model(inputs, Dense(2, name="top")(block(inputs)))
    block.trainable = False
    model.compile("sgd", "mse")
    return model


def test_a_frozen_user_layer_holding_a_dropout_is_not_cached():
    with pytest.raises(ValueError, match="'blk' \\(Block\\) changes in training mode"):
        _block_model(0.5).fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0,
                              cache_frozen_features=True)
    assert [s.layer.name for s in FlatGraph(_block_model(0.0)).split().prefix] == ["blk"]


def test_a_dropout_above_the_cut_is_no_reason_to_refuse():
    runs = []
    for cache in (False, True):
        set_random_seed(4)
        inputs = Input((4,))
        x = Dense(4, name="frozen_low", trainable=False)(inputs)
        x = Dense(4, name="trained")(Dropout(0.5, name="drop")(x))
        model = pyfrozen.Model(inputs, Dense(2, name="frozen_top", trainable=False)(x))
        model.compile("sgd", "mse")
        set_random_seed(5)
        model.fit(*data_xy(), batch_size=4, epochs=2, verbose=0, cache_frozen_features=cache)
        runs.append(model)
    assert_same_weights(runs[1], runs[0])


def data_xy():
    rng = np.random.default_rng(9)
    return rng.standard_normal((12, 4)), rng.standard_normal((12, 2))


@pytest.mark.filterwarnings("ignore:.*the trainable weights changed since compile")
def test_an_adapter_added_to_a_cached_layer_during_fit_is_seen():
    def add_adapter(model, epoch):
        if epoch == 1:
            pw = model.get_layer("base").get_layer("pw")
            pw.enable_lora(2, b_initializer="ones")
            pw.trainable = True

    uncached, _ = fit(False, add_adapter)
    cached, _ = fit(True, add_adapter)
    assert_same_weights(cached, uncached)
    untouched, _ = fit(True)
    assert not np.allclose(untouched.get_layer("head").kernel.numpy(),
                           cached.get_layer("head").kernel.numpy(), rtol=1e-4)
