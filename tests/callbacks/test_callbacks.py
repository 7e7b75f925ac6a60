"""pyfrozen.callbacks: Keras 3's hooks, their order, and each callback's behaviour in fit."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import pyfrozen
from pyfrozen import callbacks, layers


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    return x, (x @ rng.standard_normal((3, 1))).astype(np.float32)


def make_model(rate=0.05):
    model = pyfrozen.Sequential([pyfrozen.Input((3,)), layers.Dense(1, name="out")])
    model.compile(pyfrozen.optimizers.SGD(rate), loss="mse")
    return model


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def record(*args, **kwargs):
                object.__getattribute__(self, "calls").append(name)
                return attr(*args, **kwargs)
            return record
        return attr


def test_hook_order_in_fit_with_validation(data):
    x, y = data
    rec = Recorder()
    make_model().fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y),
                     callbacks=[rec])
    assert rec.calls == [
        "on_train_begin", "on_epoch_begin",
        "on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end",
        "on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end",
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end",
        "on_test_batch_begin", "on_test_batch_end", "on_test_end",
        "on_epoch_end", "on_train_end"]
    assert rec.params == {"verbose": 0, "epochs": 1, "steps": 2}
    assert rec.model is not None


def test_stop_training_from_a_batch_hook(data):
    x, y = data
    model = make_model()
    stopper = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", batch == 1))
    history = model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[stopper])
    assert model.optimizer.iterations == 2 and history.epoch == [0]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(ValueError, match="'on_nothing' is not a callback hook"):
        callbacks.LambdaCallback(on_nothing=print)
    with pytest.raises(TypeError, match="Callback instances"):
        callbacks.CallbackList([print])


def test_early_stopping_patience_and_restore_best_weights(data):
    x, y = data
    model = make_model()
    losses = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.3])
    weights_at = {}

    class FakeVal(callbacks.Callback):  # a scripted val_loss, before EarlyStopping sees it
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)
            weights_at[epoch] = model.get_weights()

    early = callbacks.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[FakeVal(), early])
    assert history.epoch == [0, 1, 2, 3] and early.stopped_epoch == 3
    assert early.best == 0.5 and early.best_epoch == 1
    for a, b in zip(weights_at[1], model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_mode_baseline_and_start_epoch(data):
    x, y = data
    model = make_model()
    acc = iter([0.5, 0.4, 0.3, 0.2])

    class FakeAcc(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_accuracy"] = next(acc)

    early = callbacks.EarlyStopping(monitor="val_accuracy", baseline=0.9, patience=2)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[FakeAcc(), early])
    assert history.epoch == [0, 1]  # epoch 0 never beat the baseline: it counts as waiting
    late = callbacks.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3,
                                   min_delta=100.0)
    assert len(make_model().fit(x, y, epochs=5, verbose=0,
                                callbacks=[late]).epoch) == 5  # only epoch 4 is judged...
    assert late.stopped_epoch == 4  # ...and stops there
    with pytest.raises(ValueError, match="automatically determine"):
        make_model().fit(x, y, epochs=1, verbose=0,
                         callbacks=[callbacks.EarlyStopping(monitor="zzz")])
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_best_only_with_formatted_names(data, tmp_path):
    x, y = data
    model = make_model()
    val = iter([3.0, 2.0, 2.5])

    class FakeVal(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(val)

    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "run" / "w-{epoch:02d}-{val_loss:.1f}"
                                         ".safetensors"),
                                     save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[FakeVal(), ckpt])
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["w-01-3.0.safetensors",
                                                                    "w-02-2.0.safetensors"]
    restored = make_model()
    restored.load_weights(str(tmp_path / "run" / "w-02-2.0.safetensors"))
    assert ckpt.best == 2.0
    with pytest.raises(ValueError, match=r"must end in `\.keras`.*filepath=m\.h5"):
        callbacks.ModelCheckpoint("m.h5")
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`.*filepath=m\.keras"):
        callbacks.ModelCheckpoint("m.keras", save_weights_only=True)
    with pytest.raises(KeyError, match="Failed to format"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[
            callbacks.ModelCheckpoint(str(tmp_path / "{nope}.safetensors"),
                                  save_weights_only=True)])


def test_model_checkpoint_saves_whole_models_as_keras_files(data, tmp_path):
    x, y = data
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1.keras", "m-2.keras"]
    restored = pyfrozen.models.load_model(str(tmp_path / "m-2.keras"))
    assert [w.numpy().tobytes() for w in restored.weights] == [
        w.numpy().tobytes() for w in model.weights]


def test_model_checkpoint_refuses_a_subclassed_model_before_training(data, tmp_path):
    class Subclassed(pyfrozen.Model):
        def __init__(self):
            super().__init__()
            self.dense = pyfrozen.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    x, y = data
    model = Subclassed()
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="defines its own call.*save_weights_only=True"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))])
    assert model.optimizer.iterations == 0 and list(tmp_path.iterdir()) == []


def test_model_checkpoint_every_n_batches(data, tmp_path):
    x, y = data
    path = tmp_path / "b{batch}.weights.h5"
    make_model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(str(path), save_weights_only=True, save_freq=2)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b2.weights.h5", "b4.weights.h5"]


def test_learning_rate_scheduler(data):
    x, y = data
    model = make_model(rate=0.1)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e: "x")])


def test_reduce_lr_on_plateau(data):
    x, y = data
    model = make_model(rate=0.1)
    val = iter([1.0, 1.0, 1.0, 1.0, 1.0])

    class FakeVal(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(val)

    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.03)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[FakeVal(), cb])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
    assert model.optimizer.learning_rate == pytest.approx(0.03)  # 0.025, held at min_lr
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=2.0)


def test_csv_logger(data, tmp_path):
    x, y = data
    path = tmp_path / "log.csv"
    make_model().fit(x, y, epochs=2, verbose=0, validation_split=0.25,
                     callbacks=[callbacks.CSVLogger(str(path))])
    make_model().fit(x, y, epochs=1, verbose=0, validation_split=0.25,
                     callbacks=[callbacks.CSVLogger(str(path), append=True)])
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]
    assert all(float(r[1]) > 0 for r in rows[1:])


def test_history_accumulates_across_fit_calls_only_per_call(data):
    x, y = data
    model = make_model()
    first = model.fit(x, y, epochs=2, verbose=0)
    second = model.fit(x, y, epochs=1, verbose=0)
    assert len(first.history["loss"]) == 2 and len(second.history["loss"]) == 1
    assert model.history is second
