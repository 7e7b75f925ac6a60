"""Low-rank adapters (pyfrozen.layers.lora): Keras 3's enable_lora, computed factored so the
frozen base weight gets no weight-gradient kernel."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import gradcheck, trace
from pyfrozen.layers import Conv2D, Dense, DepthwiseConv2D, Embedding, Input


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CASES = {
    "dense": (lambda **kw: Dense(5, activation="relu", **kw), (3, 4), "kernel"),
    "conv2d": (lambda **kw: Conv2D(4, 3, strides=2, padding="same", activation="relu6", **kw),
               (2, 6, 6, 3), "kernel"),
    "embedding": (lambda **kw: Embedding(7, 4, **kw), (3, 2), "embeddings"),
    "depthwise": (lambda **kw: DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                                               activation="relu6", **kw),
                  (2, 6, 6, 3), "depthwise_kernel"),
}


def built(case, dtype="float32", seed=0):
    make, shape, _ = CASES[case]
    layer = make(dtype=dtype)
    layer(_inputs(case, seed))
    return layer


def _inputs(case, seed=0):
    shape = CASES[case][1]
    if case == "embedding":
        return np.random.default_rng(seed).integers(0, 7, shape)
    return _x(shape, seed)


@pytest.mark.parametrize("case", sorted(CASES))
def test_enable_lora_freezes_the_base_and_adds_keras_named_adapters(case):
    layer = built(case)
    base_name = CASES[case][2]
    before = layer(_inputs(case, 1)).numpy()
    layer.enable_lora(3)
    names = [w.name for w in layer.weights]
    prefix = {"embedding": "lora_embeddings", "depthwise": "lora_depthwise_kernel"}.get(
        case, "lora_kernel")
    assert names[-2:] == [f"{prefix}_a", f"{prefix}_b"] and names[0] == base_name
    base = getattr(layer, base_name)
    a, b = names[-2:]
    assert not base.trainable and layer.get_weight(a).trainable
    assert layer.get_weight(a).shape[-1] == 3 == layer.get_weight(b).shape[0]
    assert layer.lora_rank == 3 and layer.lora_alpha == 3
    np.testing.assert_array_equal(layer(_inputs(case, 1)).numpy(), before)  # B starts at 0
    with pytest.raises(ValueError, match="lora is already enabled"):
        layer.enable_lora(2)


def test_enable_lora_needs_a_built_layer_and_a_positive_rank():
    with pytest.raises(ValueError, match="^Cannot enable lora on a layer that isn't yet built"
                       r".*'unbuilt'"):
        Dense(3, name="unbuilt").enable_lora(2)
    layer = built("dense")
    with pytest.raises(ValueError, match="rank"):
        layer.enable_lora(0)
    grouped = Conv2D(4, 3, groups=2)
    grouped(np.zeros((1, 5, 5, 4)))
    with pytest.raises(NotImplementedError, match="grouped convolution"):
        grouped.enable_lora(2)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -np.inf, "2", True, [2.0],
                                   1j])
def test_enable_lora_needs_a_finite_real_alpha(alpha):
    layer = Dense(3, name="adapted")
    layer(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"'adapted'.*lora_alpha"):
        layer.enable_lora(2, lora_alpha=alpha)
    assert not layer.lora_enabled and len(layer.weights) == 2  # nothing was added


@pytest.mark.parametrize("alpha", [None, 4, 0.5, np.float32(3.0), np.int64(2)])
def test_enable_lora_takes_a_finite_real_alpha_or_none(alpha):
    layer = built("dense")
    layer.enable_lora(2, lora_alpha=alpha)
    assert layer._lora_scale() == (1.0 if alpha is None else float(alpha) / 2)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_of_the_adapter_against_central_differences(case):
    layer = built(case, "float64")
    layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    a, b = layer._lora_adapters()
    x = pyfrozen.tensor(_inputs(case, 2), requires_grad=case != "embedding")
    for frozen in (None, a, b):
        for w in (a, b):
            w.trainable = w is not frozen
        assert gradcheck(lambda x_, a_, b_: layer(x_), [x, a, b])
        base = getattr(layer, CASES[case][2])
        assert base.grad is None


@pytest.mark.parametrize("case", ["dense", "conv2d", "depthwise"])
def test_input_gradient_through_the_cached_kernel_when_both_adapters_are_frozen(case):
    """Recording on, nothing of the layer trains: the call computes with the cached merged
    kernel, and the input's gradient flows through it (the factored path's gradient)."""
    layer = built(case, "float64")
    layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    a, b = layer._lora_adapters()
    x = pyfrozen.tensor(_inputs(case, 6), requires_grad=True)
    layer(x).sum().backward()  # A and B trainable: the training path
    expected = x.grad.numpy().copy()
    x.grad = a.grad = b.grad = None
    a.trainable = b.trainable = False
    assert gradcheck(lambda x_, a_, b_: layer(x_), [x, a, b])
    assert layer._lora_cache is not None  # the call used the cached kernel
    layer(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert a.grad is None and b.grad is None and getattr(layer, CASES[case][2]).grad is None


@pytest.mark.parametrize("case", ["dense", "conv2d"])
def test_the_frozen_base_gets_no_weight_gradient_kernel(case):
    layer = built(case)
    layer.enable_lora(2)
    x = pyfrozen.tensor(_inputs(case, 3).astype(np.float32), requires_grad=True)
    with trace() as t:
        layer(x).sum().backward()
    base_op = "dense" if case == "dense" else "conv2d"
    weight_passes = [r for r in t.ran(pass_="backward_weight") if r.op == base_op]
    if case == "dense":  # only the adapter's matmuls: N x (in x rank + rank x units)
        assert weight_passes == []
        assert sum(r.work for r in t.ran(pass_="backward_weight")) == 3 * (4 * 2 + 2 * 5)
    else:  # one conv2d weight gradient: the adapter's k x k conv to rank=2 channels
        assert len(weight_passes) == 1
        n, h, w, cin = CASES[case][1]
        assert weight_passes[0].work == n * 3 * 3 * 3 * 3 * cin * 2  # N*H'*W' x 3x3xCin x rank
    assert layer.kernel.grad is None
    assert all(w.grad is not None for w in layer._lora_adapters())


def test_depthwise_lora_trains_through_the_merged_kernel_at_full_fine_tuning_cost():
    """The depthwise adapter's choice (pyfrozen.layers.lora): one weight-gradient pass on
    the tiny merged kernel, none on W, and the bytes a fully trained layer saves."""
    x = pyfrozen.tensor(_inputs("depthwise", 3).astype(np.float32), requires_grad=True)

    def step(layer):
        with trace() as t:
            layer(x).sum().backward()
        return t

    full = step(built("depthwise"))
    layer = built("depthwise")
    layer.enable_lora(4)
    lora = step(layer)
    passes = [r for r in lora.ran(pass_="backward_weight") if r.op == "depthwise_conv2d"]
    assert [r.work for r in passes] == [r.work for r in full.ran(pass_="backward_weight")
                                        if r.op == "depthwise_conv2d"]
    assert len(passes) == 1
    assert layer.depthwise_kernel.grad is None
    assert all(w.grad is not None for w in layer._lora_adapters())
    kernel_bytes = layer.depthwise_kernel.data.nbytes  # the merged kernel, and its product
    assert full.saved_bytes < lora.saved_bytes <= full.saved_bytes + 3 * kernel_bytes


def test_freezing_the_layer_freezes_the_adapter_and_unfreezing_keeps_the_base_frozen():
    layer = built("dense")
    layer.enable_lora(2)
    layer.trainable = False
    assert layer.trainable_weights == []
    layer.trainable = True
    assert [w.name for w in layer.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert not layer.kernel.trainable


def test_fit_keeps_the_base_and_keeps_optimizer_state_for_the_adapter_only():
    inputs = Input((6,))
    dense = Dense(4, name="adapted")
    model = pyfrozen.Model(inputs, Dense(2, name="head")(dense(inputs)))
    dense.enable_lora(2, b_initializer="random_normal")
    kernel = dense.kernel.numpy().copy()
    model.compile(pyfrozen.optimizers.Adam(0.01), "mse")
    summary = model.summary(print_fn=lambda _: None)
    assert summary.total_params == 6 * 4 + 4 + 6 * 2 + 2 * 4 + 4 * 2 + 2
    assert summary.non_trainable_params == 6 * 4
    a = dense.lora_kernel_a.numpy().copy()
    model.fit(_x((16, 6)), _x((16, 2), 1), epochs=2, verbose=0)
    np.testing.assert_array_equal(dense.kernel.numpy(), kernel)
    assert not np.array_equal(dense.lora_kernel_a.numpy(), a)
    # Adam's two slots for the adapted layer's bias, A and B, and the head's two weights
    # (iterations and the rate first): none for the frozen kernel.
    state = model.optimizer.variables[2:]
    assert len(state) == 2 * 5
    assert sum(v.size for v in state) == 2 * (4 + 6 * 2 + 2 * 4 + 4 * 2 + 2)


@pytest.mark.parametrize("case", ["conv2d", "depthwise"])
def test_merge_lora_folds_the_adapter_into_the_kernel(case):
    layer = built(case)
    layer.enable_lora(2, lora_alpha=4.0, b_initializer="random_normal")
    x = _inputs(case, 4)
    before = layer(x).numpy()
    layer.merge_lora()
    np.testing.assert_allclose(layer(x).numpy(), before, rtol=1e-5, atol=1e-5)
    base = CASES[case][2]
    assert [w.name for w in layer.weights] == [base, "bias"]
    assert getattr(layer, base).trainable
    assert not layer.lora_enabled and not hasattr(layer, "lora_kernel_a")
    with pytest.raises(ValueError, match="no LoRA adapter to merge"):
        layer.merge_lora()


def _adapted_model():
    inputs = Input((6, 6, 3))
    depthwise = DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")
    conv = Conv2D(4, 3, padding="same", activation="relu", name="conv")
    x = pyfrozen.layers.GlobalAveragePooling2D(name="gap")(conv(depthwise(inputs)))
    dense = Dense(3, name="adapted")
    model = pyfrozen.Model(inputs, dense(x))
    for layer in (depthwise, conv, dense):
        layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    return model


def test_safetensors_keep_the_adapter(tmp_path):
    source = _adapted_model()
    source.set_weights([w + 0.5 for w in source.get_weights()])
    source.save_weights(str(tmp_path / "w.safetensors"))
    target = _adapted_model()
    target.load_weights(str(tmp_path / "w.safetensors"))
    for a, b in zip(source.weights, target.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_keras_tfjs_and_onnx_files_hold_the_merged_kernel(keras, onnxruntime, tmp_path):
    model = _adapted_model()
    x = _x((2, 6, 6, 3), 8).astype(np.float32)
    expected = model.predict(x)
    before = [w.numpy().tobytes() for w in model.weights]
    model.save(str(tmp_path / "m.keras"))
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
    got = theirs(x, training=False).detach().cpu().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # As Keras writes an adapted model: Dense re-adapted on load (its merged kernel, the
    # adapter zeroed), DepthwiseConv2D (no LoRA in Keras) a plain layer.
    assert theirs.get_layer("adapted").lora_enabled
    assert len(theirs.get_layer("depthwise").weights) == 2
    model.export(str(tmp_path / "tfjs"), format="tfjs")
    back = pyfrozen.saving.load_model(str(tmp_path / "tfjs" / "model.json"))
    np.testing.assert_allclose(back.predict(x), expected, rtol=1e-5, atol=1e-6)
    model.export(str(tmp_path / "m.onnx"), format="onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    back = pyfrozen.saving.load_model(str(tmp_path / "m.keras"))
    back.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(back.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert [w.numpy().tobytes() for w in model.weights] == before  # the model is untouched
    assert model.get_layer("adapted").lora_enabled


@pytest.mark.parametrize("case", ["dense", "conv2d", "embedding"])
def test_keras_gives_the_same_outputs_and_the_same_weights_after_three_sgd_steps(keras, case):
    layer = built(case)
    layer.enable_lora(2, lora_alpha=4.0, b_initializer="random_normal")
    make = {"dense": lambda: keras.layers.Dense(5, activation="relu"),
            "conv2d": lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same",
                                                  activation="relu6"),
            "embedding": lambda: keras.layers.Embedding(7, 4)}[case]
    x = _inputs(case, 5)
    x = x if case == "embedding" else x.astype(np.float32)
    theirs = make()
    theirs(x)
    theirs.enable_lora(2, lora_alpha=4.0)
    base_name = CASES[case][2]
    base_values = [getattr(layer, base_name).numpy()] + (
        [layer.bias.numpy()] if getattr(layer, "bias", None) is not None else [])
    theirs.set_weights(base_values + [w.numpy() for w in layer._lora_adapters()])
    expected = theirs(x, training=False).detach().cpu().numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)

    target = _x(expected.shape, 6).astype(np.float32)
    ours = pyfrozen.Sequential([layer])
    ours.compile(pyfrozen.optimizers.SGD(0.05), "mse")
    model = keras.Sequential([theirs])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(3):
            ours.train_on_batch(x, target)
            model.train_on_batch(x, target)
    theirs_after = [np.asarray(v.detach().cpu()) for v in (w.value for w in theirs.weights)]
    for mine, other in zip(layer.weights, theirs_after, strict=True):
        np.testing.assert_allclose(mine.numpy(), other, rtol=1e-5, atol=1e-6, err_msg=mine.name)


def test_a_keras_weights_file_loads_into_an_adapted_model_as_keras_loads_it(keras, tmp_path):
    """Keras writes the merged kernels; loading them into adapted layers puts them in the
    base weights and zeroes B (Keras's load_own_variables): Keras's predictions. A stays,
    so the adapter still trains (Keras zeroes it too, and then it never can)."""
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    theirs = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    x = _x((2, 6, 6, 3), 10).astype(np.float32)
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        for layer in theirs.layers[2:5:2]:  # the Conv2D and the Dense
            layer.enable_lora(2, lora_alpha=3.0)
        rng = np.random.default_rng(9)
        theirs.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                            for w in theirs.get_weights()])
        expected = theirs(x, training=False).detach().cpu().numpy()
        theirs.save_weights(str(tmp_path / "k.weights.h5"))
    model = _adapted_model()
    a_before = {layer.name: layer._lora_adapters()[0].numpy().copy()
                for layer in model.layers if getattr(layer, "lora_enabled", False)}
    model.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    for name, a in a_before.items():
        layer = model.get_layer(name)
        assert not layer._lora_adapters()[1].numpy().any()
        np.testing.assert_array_equal(layer._lora_adapters()[0].numpy(), a)
    model.compile(pyfrozen.optimizers.SGD(0.1), "mse")
    model.train_on_batch(x, np.ones((2, 3), np.float32))
    assert model.get_layer("adapted").lora_kernel_b.numpy().any()  # the adapter trains
