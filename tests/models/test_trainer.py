"""Model.compile / fit / evaluate / *_on_batch: Keras 3's surface, and freezing that
takes effect at once."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers


def test_fit_before_compile_says_so(small_model, regression_data):
    x, y = regression_data
    with pytest.raises(ValueError, match=r"must call `compile\(\)` before calling `fit\(\)`"):
        small_model().fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"before calling `evaluate\(\)`"):
        small_model().evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"before calling `train_on_batch\(\)`"):
        small_model().train_on_batch(x, y)


def test_fit_trains_and_returns_keras_history(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile(pyfrozen.optimizers.Adam(0.01), loss=mse)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=5, batch_size=8, validation_split=0.25, verbose=0)
    assert list(history.history) == ["loss", "val_loss"]
    assert len(history.history["loss"]) == 5 and history.epoch == [0, 1, 2, 3, 4]
    assert model.history is history
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0) < before
    assert model.optimizer.iterations == 5 * 4  # 30 training samples in batches of 8


def test_history_and_evaluate_with_a_metric(small_model, sparse_ce, accuracy):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64)
    model = small_model(units=2)
    model.compile("sgd", loss=sparse_ce, metrics=[accuracy()])
    history = model.fit(x, labels, epochs=2, batch_size=6, verbose=0,
                        validation_data=(x[:12], labels[:12]))
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    loss, acc = model.evaluate(x, labels, verbose=0)
    assert 0.0 <= acc <= 1.0 and loss > 0
    logs = model.evaluate(x, labels, verbose=0, return_dict=True)
    assert list(logs) == ["accuracy", "loss"] and logs["loss"] == pytest.approx(loss)
    assert model.metrics_names == ["loss", "compile_metrics"]


def _two_output_model():
    inputs = pyfrozen.Input((4,), name="x")
    hidden = layers.Dense(6, activation="relu", name="trunk")(inputs)
    a = layers.Dense(2, name="out_a")(hidden)
    b = layers.Dense(3, name="out_b")(hidden)
    return pyfrozen.Model(inputs, [a, b])


def test_multi_output_losses_weights_and_names(mse):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    ya = rng.standard_normal((16, 2)).astype(np.float32)
    yb = rng.integers(0, 3, 16)
    model = _two_output_model()
    model.compile("adam", loss={"out_a": mse, "out_b": "mse"},
                  loss_weights={"out_a": 1.0, "out_b": 0.5},
                  metrics={"out_b": ["accuracy"]})
    yb_onehot = np.eye(3, dtype=np.float32)[yb]
    history = model.fit(x, {"out_a": ya, "out_b": yb_onehot}, epochs=1, batch_size=16,
                        verbose=0)
    assert list(history.history) == ["loss", "out_a_loss", "out_b_accuracy", "out_b_loss"]
    h = history.history
    assert h["loss"][0] == pytest.approx(h["out_a_loss"][0] + 0.5 * h["out_b_loss"][0])
    # evaluate: Keras's order (loss, then model.metrics' names, then the rest sorted)
    values = model.evaluate(x, [ya, yb_onehot], verbose=0)
    logs = model.evaluate(x, [ya, yb_onehot], verbose=0, return_dict=True)
    assert values == [logs["loss"], logs["out_a_loss"], logs["out_b_loss"],
                      logs["out_b_accuracy"]]


def test_a_none_loss_leaves_that_output_untrained(mse):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    model = _two_output_model()
    model.compile("sgd", loss=[mse, None])
    b_kernel = model.get_layer("out_b").kernel.data.copy()
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        history = model.fit(x, [rng.standard_normal((8, 2)), None], epochs=1, verbose=0)
    assert list(history.history) == ["loss"]  # one loss: no per-output trackers (Keras)
    np.testing.assert_array_equal(model.get_layer("out_b").kernel.data, b_kernel)


def test_loss_shape_mismatch_names_output_and_shapes(small_model, mse):
    model = small_model(units=2)
    model.compile("sgd", loss=mse)
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"output 'head'.*predictions \(4, 2\), targets \(4, 5\)"):
        model.fit(x, np.ones((4, 5), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"different batch sizes \(predictions \(4, 2\)"):
        model.train_on_batch(x, np.ones((3, 2), np.float32))


def test_evaluate_returns_a_scalar_without_metrics(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile("sgd", loss=mse)
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    assert isinstance(model.train_on_batch(x, y), float)
    assert isinstance(model.test_on_batch(x, y), float)
    assert model.test_on_batch(x, y, return_dict=True).keys() == {"loss"}
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x))


def test_train_on_batch_is_one_step_of_the_optimizer(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
    w0 = [w.data.copy() for w in model.trainable_weights]
    model.train_on_batch(x, y)
    assert model.optimizer.iterations == 1
    assert all(not np.array_equal(a, w.data) for a, w in zip(w0, model.trainable_weights,
                                                                   strict=True))


class _Seen(layers.Layer):
    """Identity that keeps the array its call received."""

    def call(self, inputs):
        self.seen = inputs.data
        return inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_train_step_reads_the_callers_array_without_a_copy(regression_data, mse, dtype):
    # Forward and backward run inside train_on_batch, so the model's float32 input is the
    # caller's own memory (a recording call outside a step copies it: test_layer.py);
    # float64 data is cast as before. The step equals one on a private copy.
    x, y = regression_data
    x = x.astype(dtype)
    models, seen = [], []
    for data in (x, x.copy()):
        inputs = pyfrozen.Input((4,))
        spy = _Seen()
        out = layers.Dense(2, name="head")(spy(inputs))
        model = pyfrozen.Model(inputs, out)
        model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
        model.get_layer("head").set_weights(
            [np.full((4, 2), 0.5, np.float32), np.zeros(2, np.float32)])
        model.train_on_batch(data, y)
        models.append(model)
        seen.append(spy.seen)
    assert np.shares_memory(seen[0], x) == (dtype == np.float32)
    assert seen[0].dtype == np.float32
    for a, b in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sample_weight_zero_ignores_samples(small_model, regression_data, mse):
    x, y = regression_data
    m1, m2 = small_model(), small_model()
    m2.set_weights(m1.get_weights())
    for m in (m1, m2):
        m.compile(pyfrozen.optimizers.SGD(0.05), loss=mse)
    weights = np.r_[np.ones(20), np.zeros(20)].astype(np.float32)
    m1.fit(x, y, sample_weight=weights, batch_size=40, shuffle=False, verbose=0)
    m2.fit(x[:20], y[:20], sample_weight=np.full(20, 0.5, np.float32), batch_size=20,
           shuffle=False, verbose=0)  # sum(l) / 40 both times
    for a, b in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_class_weight_becomes_sample_weight(small_model, sparse_ce):
    x = np.random.default_rng(4).standard_normal((10, 4)).astype(np.float32)
    labels = np.array([0, 1] * 5)
    m1, m2 = small_model(), small_model()
    m2.set_weights(m1.get_weights())
    for m in (m1, m2):
        m.compile(pyfrozen.optimizers.SGD(0.1), loss=sparse_ce)
    m1.fit(x, labels, class_weight={0: 0.0, 1: 2.0}, batch_size=10, shuffle=False, verbose=0)
    m2.fit(x, labels, sample_weight=np.where(labels == 1, 2.0, 0.0), batch_size=10,
           shuffle=False, verbose=0)
    for a, b in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        m1.fit(x, labels, class_weight={0: 1.0}, sample_weight=np.ones(10), verbose=0)


def test_string_optimizer_and_fresh_state(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile("adam", loss=mse)
    assert isinstance(model.optimizer, pyfrozen.optimizers.Adam)
    model.fit(x, y, epochs=1, verbose=0)
    first = model.optimizer
    model.compile(pyfrozen.optimizers.Adam(1e-4), loss=mse)
    assert model.optimizer is not first and model.optimizer.iterations == 0
    assert model.optimizer.variables[2:] == []  # no state before its first step


def test_compile_resolves_lr_multipliers(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.1, lr_multipliers={"hidden": 0.0}), loss=mse)
    hidden = model.get_layer("hidden").kernel.data.copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_layer("hidden").kernel.data, hidden)
    with pytest.raises(ValueError, match="match no weight"):
        model.compile(pyfrozen.optimizers.SGD(0.1, lr_multipliers={"nope*": 0.5}), loss=mse)


# ---------------------------------------------------------------------------------------
# Freezing takes effect at once
# ---------------------------------------------------------------------------------------


def test_unfreezing_after_compile_applies_at_the_next_step(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    hidden = model.get_layer("hidden")
    hidden.trainable = False
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
    frozen = hidden.kernel.data.copy()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(hidden.kernel.data, frozen)
    hidden.trainable = True  # no recompile
    with pytest.warns(UserWarning, match=r"trainable weights changed since compile\(\) "
                                         r"\(2 -> 4 weights\)"):
        model.train_on_batch(x, y)
    assert not np.array_equal(hidden.kernel.data, frozen)
    model.train_on_batch(x, y)  # the notice is given once (filterwarnings=error)


def test_freezing_after_compile_stops_updates_at_the_next_step(small_model, regression_data,
                                                               mse):
    x, y = regression_data
    model = small_model()
    model.compile(pyfrozen.optimizers.Adam(0.01), loss=mse)
    model.train_on_batch(x, y)
    head = model.get_layer("head")
    head.trainable = False
    kernel = head.kernel.data.copy()
    with pytest.warns(UserWarning, match="trainable weights changed"):
        model.train_on_batch(x, y)
    np.testing.assert_array_equal(head.kernel.data, kernel)


def test_a_step_without_trainable_weights_warns_once(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.trainable = False
    model.compile("sgd", loss=mse)
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_gradients_are_zeroed_before_each_step(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.0), loss=mse)
    model.train_on_batch(x, y)
    first = [w.grad.data.copy() for w in model.trainable_weights]
    model.train_on_batch(x, y)  # rate 0: same weights, so the same gradients, not twice
    for g, w in zip(first, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(w.grad.data, g)


def test_trainable_layer_below_a_frozen_one_still_learns(regression_data, mse):
    x, y = regression_data
    inputs = pyfrozen.Input((4,))
    low = layers.Dense(5, name="low")
    mid = layers.Dense(5, name="mid", trainable=False)
    out = layers.Dense(2, name="top")(mid(low(inputs)))
    model = pyfrozen.Model(inputs, out)
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
    w_low, w_mid = low.kernel.data.copy(), mid.kernel.data.copy()
    model.fit(x, y, verbose=0)
    assert not np.array_equal(low.kernel.data, w_low)
    np.testing.assert_array_equal(mid.kernel.data, w_mid)


# ---------------------------------------------------------------------------------------
# Non-finite losses
# ---------------------------------------------------------------------------------------


def test_nan_in_the_data_raises_and_keeps_the_weights(small_model, regression_data, mse):
    x, y = regression_data
    x = x.copy()
    x[5, 1] = np.nan
    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
    before = model.get_weights()
    with pytest.raises(FloatingPointError,
                       match=r"fit \(epoch 1, batch 1\).*loss is nan \(output 'head': loss nan "
                             r"\(predictions \(8, 2\), targets \(8, 2\)\)\); 1 of the input "
                             r"values of shape \(8, 4\) are NaN"):
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_with_the_last_good_weights(small_model, regression_data, mse,
                                                           capsys):
    x, y = regression_data
    x = x.copy()
    x[20:] = np.nan  # batches 3 and 4 of 8 samples
    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=mse)
    seen = []
    keep = pyfrozen.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(model.get_weights()))
    history = model.fit(x, y, batch_size=8, shuffle=False, verbose=0, epochs=3,
                        callbacks=[keep, pyfrozen.callbacks.TerminateOnNaN()])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(seen) == 3 and np.isnan(history.history["loss"][0])
    for a, b in zip(seen[1], model.get_weights(), strict=True):  # batch 3 changed nothing
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_a_nan_batch_leaves_batchnorm_statistics_as_they_were(capsys):
    inputs = pyfrozen.Input((3,))
    bn = layers.BatchNormalization(name="bn")
    model = pyfrozen.Model(inputs, layers.Dense(1)(bn(inputs)))
    model.compile("sgd", loss="mse")
    x = np.random.default_rng(6).standard_normal((8, 3)).astype(np.float32)
    model.train_on_batch(x, np.ones((8, 1)))
    before = model.get_weights()
    x[2, 0] = np.nan
    model.fit(x, np.ones((8, 1)), batch_size=8, verbose=0,
              callbacks=[pyfrozen.callbacks.TerminateOnNaN()])
    assert "Invalid loss" in capsys.readouterr().out
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# Data: dicts, lists, generators, Sequences
# ---------------------------------------------------------------------------------------


def test_dict_inputs_by_name(mse):
    a_in = pyfrozen.Input((2,), name="a")
    b_in = pyfrozen.Input((3,), name="b")
    out = layers.Dense(1)(layers.Concatenate()([a_in, b_in]))
    model = pyfrozen.Model([a_in, b_in], out)
    model.compile("sgd", loss=mse)
    rng = np.random.default_rng(5)
    data = {"b": rng.standard_normal((6, 3)), "a": rng.standard_normal((6, 2))}
    y = rng.standard_normal((6, 1))
    history = model.fit(data, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    np.testing.assert_allclose(model.predict(data), model.predict([data["a"], data["b"]]))
    with pytest.raises(ValueError, match=r"inputs \['a'\] are missing"):
        model.fit({"b": data["b"]}, y, verbose=0)


def test_generator_sequence_and_steps(small_model, regression_data, mse):
    x, y = regression_data

    def batches():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    class Seq:
        epochs_ended = 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

        def on_epoch_end(self):
            Seq.epochs_ended += 1

    model = small_model()
    model.compile(pyfrozen.optimizers.SGD(0.01), loss=mse)
    model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0,
              validation_data=batches(), validation_steps=2)
    assert model.optimizer.iterations == 6
    model.fit(Seq(), epochs=2, verbose=0)
    assert model.optimizer.iterations == 14 and Seq.epochs_ended == 2
    assert model.evaluate(Seq(), verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0,
                                                                             batch_size=10))
    np.testing.assert_allclose(model.predict(Seq()), model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="`y` should not be passed"):
        model.fit(Seq(), y, verbose=0)


def test_a_finite_generator_warns_when_it_runs_out(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile("sgd", loss=mse)
    gen = ((x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10))
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(gen, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1 and model.optimizer.iterations == 4


def test_custom_train_step_override(small_model, regression_data, mse):
    x, y = regression_data

    class Counting(pyfrozen.Model):
        steps = 0

        def train_step(self, data):
            Counting.steps += 1
            return {"custom": 1.0, **super().train_step(data)}

    base = small_model()
    model = Counting(base.inputs, base.outputs)
    model.compile("sgd", loss=mse)
    history = model.fit(x, y, batch_size=10, verbose=0)
    assert Counting.steps == 4 and set(history.history) == {"custom", "loss"}


def test_fit_argument_errors(small_model, regression_data, mse):
    x, y = regression_data
    model = small_model()
    model.compile("sgd", loss=mse)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="not sufficient to split"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(NotImplementedError, match="steps_per_execution"):
        model.compile("sgd", loss=mse, steps_per_execution=4)


def test_unbuilt_sequential_and_subclassed_models_train(regression_data, mse):
    x, y = regression_data

    class TwoLayers(pyfrozen.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(5, activation="relu")
            self.out = layers.Dense(2)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    for model in (pyfrozen.Sequential([layers.Dense(5, activation="relu"), layers.Dense(2)]),
                  TwoLayers()):
        model.compile(pyfrozen.optimizers.Adam(0.01), loss=mse, metrics=["mae"])
        history = model.fit(x, y, epochs=3, batch_size=10, verbose=0)
        assert list(history.history) == ["loss", "mae"]  # sorted, as Keras 3
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert len(model.evaluate(x, y, verbose=0)) == 2
