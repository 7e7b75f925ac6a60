"""Conv / Dense -> inference BatchNormalization -> ReLU as one call (models/fusion.py):
the same outputs as the layers one by one, no BatchNormalization or activation pass, the
folded weights refreshed when a weight changes, and nothing fused where it would be
recorded or where an intermediate value is needed elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest

import pyfrozen
from pyfrozen import applications, layers, ops
from pyfrozen.autograd import trace
from pyfrozen.models import Model, fusion
from pyfrozen.models.prefix import FlatGraph, run_prefix
from pyfrozen.utils import set_random_seed

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


@contextmanager
def unfused():
    before = fusion.enabled
    fusion.enabled = False
    try:
        yield
    finally:
        fusion.enabled = before


def randomize(model: Model, seed: int = 0) -> None:
    """Statistics and biases away from their defaults, so a wrong fold shows."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        if w.name in ("gamma", "moving_variance"):
            values.append(rng.uniform(0.5, 1.5, w.shape))
        elif w.name in ("beta", "moving_mean", "bias"):
            values.append(rng.normal(0.0, 0.3, w.shape))
        else:
            values.append(w.data)
    model.set_weights(values)


def kernels(fn) -> Counter:
    """Forward kernel calls by kernel name while ``fn`` runs."""
    with trace() as t:
        fn()
    return Counter(r.kernel for r in t.kernels if r.pass_ == "forward"
                   for _ in range(r.calls))


def images(shape, dtype="float32", seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    # Folding reorders a few roundings per element: relative to the outputs' scale.
    tol = 2e-5 if got.dtype == np.float32 else 1e-12
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


ACTIVATIONS = {
    "none": lambda dtype: None,
    "ReLU": lambda dtype: layers.ReLU(dtype=dtype),
    "ReLU(6)": lambda dtype: layers.ReLU(6.0, dtype=dtype),
    "ReLU6": lambda dtype: layers.ReLU6(dtype=dtype),
    "Activation(relu)": lambda dtype: layers.Activation("relu", dtype=dtype),
    "Activation(relu6)": lambda dtype: layers.Activation("relu6", dtype=dtype),
    "Activation(sigmoid)": lambda dtype: layers.Activation("sigmoid", dtype=dtype),
    "Activation(tanh)": lambda dtype: layers.Activation("tanh", dtype=dtype),
}


def chain_model(producer, activation, dtype: str, shape=(6, 6, 4)) -> Model:
    inputs = layers.Input(shape, dtype=dtype)
    x = producer(inputs)
    x = layers.BatchNormalization(dtype=dtype)(x)
    if activation is not None:
        x = activation(x)
    model = Model(inputs, layers.GlobalAveragePooling2D(dtype=dtype)(x) if len(shape) == 3 else x)
    randomize(model)
    return model


PRODUCERS = {
    "conv": lambda dtype, bias: layers.Conv2D(5, 3, padding="same", use_bias=bias, dtype=dtype),
    "conv_stride2_groups2": lambda dtype, bias: layers.Conv2D(
        6, 3, strides=2, padding="same", groups=2, use_bias=bias, dtype=dtype),
    "depthwise_x2": lambda dtype, bias: layers.DepthwiseConv2D(
        3, depth_multiplier=2, padding="same", use_bias=bias, dtype=dtype),
    "depthwise_valid": lambda dtype, bias: layers.DepthwiseConv2D(3, use_bias=bias, dtype=dtype),
}


# ---------------------------------------------------------------------------------------
# Fused equals unfused
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_a_chain_predicts_as_its_layers_one_by_one(producer, activation, bias, dtype):
    model = chain_model(PRODUCERS[producer](dtype, bias), ACTIVATIONS[activation](dtype), dtype)
    x = images((3, 6, 6, 4), dtype)
    with unfused():
        want = model.predict_on_batch(x)
        unfused_kernels = kernels(lambda: model.predict_on_batch(x))
    got = model.predict_on_batch(x)
    assert got.dtype == dtype
    assert_close(got, want)
    fused_kernels = kernels(lambda: model.predict_on_batch(x))
    assert unfused_kernels["batchnorm"] == 1
    # One convolution with the folded bias and the activation in its epilogue: no BN pass,
    # no separate bias / activation pass.
    assert fused_kernels["batchnorm"] == 0 and fused_kernels["bias_act"] == 0
    conv = "depthwise_conv2d" if producer.startswith("depthwise") else "conv2d"
    assert fused_kernels[conv] == 1
    assert fused_kernels.total() <= unfused_kernels.total()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["none", "ReLU6", "Activation(tanh)"])
def test_dense_then_batch_norm_is_fused_too(activation, dtype):
    model = chain_model(layers.Dense(7, dtype=dtype), ACTIVATIONS[activation](dtype), dtype,
                        shape=(5,))
    x = images((4, 5), dtype)
    with unfused():
        want = model.predict_on_batch(x)
    assert_close(model.predict_on_batch(x), want)
    assert kernels(lambda: model.predict_on_batch(x))["batchnorm"] == 0


@pytest.mark.parametrize("build", [
    lambda: applications.MobileNet(alpha=0.25, include_top=False, input_shape=(32, 32, 3)),
    lambda: applications.MobileNet(alpha=0.25, depth_multiplier=2, input_shape=(32, 32, 3),
                                   classes=7),
    lambda: applications.MobileNetV2(alpha=0.35, include_top=False, input_shape=(32, 32, 3)),
], ids=["v1", "v1_multiplier2_top", "v2"])
def test_mobilenet_predicts_as_unfused_with_one_conv_kernel_per_chain(build):
    model = build()
    randomize(model)
    x = images((2, 32, 32, 3))
    with unfused():
        want = model.predict(x, batch_size=2, verbose=0)
    before = [w.data.copy() for w in model.weights]
    got = model.predict(x, batch_size=2, verbose=0)
    assert_close(got, want)
    again = model.predict(x, batch_size=2, verbose=0)
    assert got.tobytes() == again.tobytes()  # deterministic
    for a, w in zip(before, model.weights, strict=True):
        assert a.tobytes() == w.data.tobytes(), w.name  # stored weights untouched
    ran = kernels(lambda: model.predict_on_batch(x))
    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    convs = [layer for layer in model.layers
             if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]
    chains = model._graph.chains.values()
    assert len(bns) == len(chains) > 20
    # No BN pass; each chain's folded bias and ReLU6 in its convolution's epilogue.
    assert ran["batchnorm"] == 0 and ran["bias_act"] == 0
    assert ran["conv2d"] + ran["depthwise_conv2d"] == len(convs)


# ---------------------------------------------------------------------------------------
# What is not fused
# ---------------------------------------------------------------------------------------


def _two_consumers(where: str) -> Model:
    inputs = layers.Input((6, 6, 3))
    conv = layers.Conv2D(4, 3, padding="same")(inputs)
    bn = layers.BatchNormalization()(conv)
    relu = layers.ReLU(6.0)(bn)
    if where == "bn_is_an_output":
        outputs = [relu, bn]
    elif where == "conv_feeds_two":
        outputs = ops_add(relu, conv)
    else:  # the BN output feeds the ReLU and the addition
        outputs = ops_add(relu, bn)
    model = Model(inputs, outputs)
    randomize(model)
    return model


def ops_add(a, b):
    return layers.Add()([a, b])


@pytest.mark.parametrize("where", ["bn_is_an_output", "conv_feeds_two", "bn_feeds_two"])
def test_an_intermediate_needed_elsewhere_blocks_the_chain(where):
    """The BN's output read elsewhere: conv + BN still fold (that output is theirs), the
    ReLU runs on its own. The conv's output read elsewhere: nothing is fused."""
    model = _two_consumers(where)
    chains = list(model._graph.chains.values())
    if where == "conv_feeds_two":
        assert chains == []
    else:
        assert [(c.producer.name, c.activation) for c in chains] == [
            (model.layers[1].name, None)]
    x = images((2, 6, 6, 3))
    with unfused():
        want = model.predict_on_batch(x)
    got = model.predict_on_batch(x)
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want], strict=True):
        assert_close(g, w)
    ran = kernels(lambda: model.predict_on_batch(x))
    assert ran["batchnorm"] == (1 if where == "conv_feeds_two" else 0)
    # The conv's folded bias in its epilogue, then the ReLU6 on its own.
    assert ran["bias_act"] == 1


@pytest.mark.parametrize("case", ["conv_activation", "lora"])
def test_a_conv_with_its_own_activation_or_lora_runs_unfused(case):
    inputs = layers.Input((6, 6, 3))
    conv = layers.Conv2D(4, 3, activation="relu" if case == "conv_activation" else None)
    model = Model(inputs, layers.ReLU()(layers.BatchNormalization()(conv(inputs))))
    randomize(model)
    if case == "lora":  # LoRA's inference path is its own: not folded here
        conv.enable_lora(2)
        conv.lora_kernel_b.data[...] = 0.1
    x = images((2, 6, 6, 3))
    with unfused():
        want = model.predict_on_batch(x)
    assert model.predict_on_batch(x).tobytes() == want.tobytes()
    assert kernels(lambda: model.predict_on_batch(x))["batchnorm"] == 1


# ---------------------------------------------------------------------------------------
# Recording keeps the unfused path
# ---------------------------------------------------------------------------------------


def test_a_training_step_that_trains_the_chain_is_unchanged_bit_for_bit():
    def step(fused: bool) -> list[np.ndarray]:
        set_random_seed(0)
        model = applications.MobileNet(alpha=0.25, include_top=True, input_shape=(32, 32, 3),
                                       classes=3, dropout=0.0)
        randomize(model)
        model.compile(pyfrozen.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        x, y = images((4, 32, 32, 3)), np.array([0, 1, 2, 0])
        if fused:
            ran = kernels(lambda: model.train_on_batch(x, y))
            assert ran["batchnorm"] == 27  # batch statistics: every BN runs
        else:
            with unfused():
                model.train_on_batch(x, y)
        return model.get_weights()

    for a, b in zip(step(True), step(False), strict=True):
        assert a.tobytes() == b.tobytes()


def test_batch_statistics_without_a_tape_are_not_fused():
    model = chain_model(PRODUCERS["conv"]("float32", True), layers.ReLU(), "float32")
    model.trainable = False
    _bn(model).trainable = True  # batch statistics in training mode
    x = images((3, 6, 6, 4))
    with pyfrozen.no_grad():
        with unfused():
            want = model(x, training=True).numpy()
        stats = [w.data.copy() for w in model.weights]
        got = model(x, training=True).numpy()  # moves the statistics again, as unfused
    assert got.tobytes() == want.tobytes()
    assert any(not np.array_equal(a, w.data) for a, w in zip(stats, model.weights,
                                                                strict=True))


def test_a_recording_frozen_chain_above_a_trainable_layer_runs_unfused():
    inputs = layers.Input((6, 6, 3))
    first = layers.Conv2D(4, 3, padding="same", name="trains")(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(4, 3, name="frozen")(first)))
    model = Model(inputs, layers.GlobalAveragePooling2D()(x))
    randomize(model)
    model.trainable = False
    model.get_layer("trains").trainable = True
    x = images((2, 6, 6, 3))
    with trace() as t:
        loss = ops.mean(model(x, training=True))
    assert t.ran(kernel="batchnorm")  # its input requires a gradient: recorded, unfused
    loss.backward()
    assert model.get_layer("trains").kernel.grad is not None


# ---------------------------------------------------------------------------------------
# The frozen base of a training step
# ---------------------------------------------------------------------------------------


def transfer_model() -> tuple[Model, Model]:
    base = applications.MobileNet(alpha=0.25, include_top=False, input_shape=(32, 32, 3))
    randomize(base)
    base.trainable = False
    inputs = layers.Input((32, 32, 3))
    x = layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = Model(inputs, layers.Dense(3, name="head")(x))
    return base, model


def test_the_frozen_base_of_a_training_step_is_fused_with_the_same_head_gradients():
    base, model = transfer_model()
    x = images((4, 32, 32, 3))

    def head_grads() -> list[np.ndarray]:
        head = model.get_layer("head")
        head.kernel.grad = head.bias.grad = None
        y = model(x, training=True)
        loss = ops.mean(y * y)
        loss.backward()
        return [head.kernel.grad.numpy(), head.bias.grad.numpy()]

    with unfused():
        want = head_grads()
    with trace() as t:
        got = head_grads()
    base_layers = {layer.name for layer in base.layers}
    assert not [r for r in t.kernels if r.layer in base_layers and r.kernel == "batchnorm"]
    assert t.ran(layer="conv1")
    for g, w in zip(got, want, strict=True):
        assert_close(g, w)


def test_the_frozen_feature_cache_runs_its_prefix_fused():
    _, model = transfer_model()
    graph = FlatGraph(model)
    split = graph.split(training=True)
    x = pyfrozen.tensor(images((2, 32, 32, 3)))
    with unfused():
        want = run_prefix(graph, split, [x], True)
    with trace() as t:
        got = run_prefix(graph, split, [x], True)
    assert not t.ran(kernel="batchnorm")
    for key in want:
        assert_close(got[key].numpy(), want[key].numpy())


# ---------------------------------------------------------------------------------------
# The folded weights follow the stored ones
# ---------------------------------------------------------------------------------------


def _bn(model: Model) -> layers.BatchNormalization:
    return next(layer for layer in model.layers
                if isinstance(layer, layers.BatchNormalization))


CHANGES = {
    "set_weights": lambda m, rng: m.set_weights(
        [w.data + rng.uniform(0.1, 0.2, w.shape).astype(w.dtype) for w in m.weights]),
    "moving_mean.copy_": lambda m, rng: _bn(m).moving_mean.copy_(
        rng.normal(size=_bn(m).moving_mean.shape).astype(np.float32)),
    "moving_variance via set_weights": lambda m, rng: _bn(m).set_weights(
        [w.data * 2.0 for w in _bn(m).weights]),
    "training-mode BN call": lambda m, rng: m(images((3, 6, 6, 4), seed=5), training=True),
    "training step": lambda m, rng: (
        m.compile(pyfrozen.optimizers.SGD(0.5), "mse"),
        m.train_on_batch(images((3, 6, 6, 4), seed=6), np.ones((3, 5), np.float32))),
    "epsilon": lambda m, rng: setattr(_bn(m), "epsilon", 0.5),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_folded_weights_refresh_when_a_weight_changes(change):
    model = chain_model(PRODUCERS["conv"]("float32", True), layers.ReLU6(), "float32")
    x = images((3, 6, 6, 4))
    before = model.predict_on_batch(x)  # folds and keeps the folded weights
    CHANGES[change](model, np.random.default_rng(3))
    with unfused():
        want = model.predict_on_batch(x)
    assert not np.allclose(want, before)  # the change matters
    assert_close(model.predict_on_batch(x), want)


def test_the_folded_weights_are_kept_while_nothing_changes():
    model = chain_model(PRODUCERS["conv"]("float32", True), layers.ReLU6(), "float32")
    x = images((3, 6, 6, 4))
    model.predict_on_batch(x)
    conv = next(layer for layer in model.layers if isinstance(layer, layers.Conv2D))
    folded = conv._bn_fold
    model.predict_on_batch(x)
    assert conv._bn_fold is folded
    conv.trainable = False  # a flag change refolds (cheap, and never stale)
    model.predict_on_batch(x)
    assert conv._bn_fold is not folded


def test_replacing_a_weights_array_twice_never_reuses_a_stale_fold():
    # The key holds arrays by id; were the cache not keeping them alive, the second
    # replacement could get the first array's id back and hit the old fold (it did, 20 of
    # 20 tries, before the cache kept its arrays).
    model = chain_model(PRODUCERS["conv"]("float32", True), layers.ReLU(), "float32")
    conv = next(layer for layer in model.layers if isinstance(layer, layers.Conv2D))
    x = images((2, 6, 6, 4))
    for _ in range(20):
        model.predict_on_batch(x)
        conv.kernel.data = np.ascontiguousarray(conv.kernel.data * 1.5)
        conv.kernel.data = np.ascontiguousarray(conv.kernel.data / 1.4)
        with unfused():
            want = model.predict_on_batch(x)
        assert_close(model.predict_on_batch(x), want)


def test_a_shared_conv_before_two_batch_norms_keeps_a_fold_for_each():
    # One Conv2D called on two inputs, each call followed by its own BatchNormalization:
    # two chains, two folds (one cache slot refolded on every call before).
    a, b = layers.Input((6, 6, 4)), layers.Input((6, 6, 4))
    conv = layers.Conv2D(5, 3, padding="same")
    bn_a, bn_b = layers.BatchNormalization(), layers.BatchNormalization(epsilon=0.1)
    model = Model([a, b], layers.Add()([layers.ReLU()(bn_a(conv(a))),
                                        layers.ReLU()(bn_b(conv(b)))]))
    bn_a.moving_mean.fill_(0.3)
    bn_b.moving_mean.fill_(-0.2)
    x = [images((2, 6, 6, 4)), images((2, 6, 6, 4), seed=2)]
    with unfused():
        want = model.predict_on_batch(x)
    assert_close(model.predict_on_batch(x), want)
    folds = conv._bn_fold
    assert len(folds) == 2
    assert_close(model.predict_on_batch(x), want)
    assert conv._bn_fold is folds  # both kept: no refold on every call


def test_gradcheck_through_a_chain_sees_its_perturbed_kernel():
    # gradcheck's finite differences run without a tape, so the chain runs fused; it writes
    # the kernel behind its version counter (autograd.restored_writes): a fold keyed by
    # versions alone went stale and the numeric gradient came out 0.
    model = chain_model(PRODUCERS["conv"]("float64", True), layers.ReLU(dtype="float64"),
                        "float64")
    conv = next(layer for layer in model.layers if isinstance(layer, layers.Conv2D))
    x = images((2, 6, 6, 4), "float64")
    with trace() as t:
        model.predict_on_batch(x)  # a fold exists before the check
    assert not t.ran(kernel="batchnorm")  # the chain runs fused
    assert pyfrozen.autograd.gradcheck(lambda k: model(x, training=False), [conv.kernel])


# ---------------------------------------------------------------------------------------
# Threads and the switch
# ---------------------------------------------------------------------------------------


def test_training_and_predicting_threads_give_the_serial_results():
    """One thread trains the head on the shared frozen base (fusing the base) and, between
    steps, predicts with a fully trainable model it also trains (refolding each time);
    the other predicts with the shared base. Both use the same folded-weight caches."""
    x = images((4, 32, 32, 3))
    y = np.array([0, 1, 2, 0])

    def setup():
        set_random_seed(0)
        base, model = transfer_model()
        model.compile(pyfrozen.optimizers.SGD(0.05), "mse")
        small = chain_model(PRODUCERS["depthwise_x2"]("float32", True), layers.ReLU6(), "float32")
        small.compile(pyfrozen.optimizers.SGD(0.5), "mse")
        return base, model, small

    def trainer(model, small, out):
        xs = images((3, 6, 6, 4))
        for _ in range(4):
            model.train_on_batch(x, np.eye(3, dtype=np.float32)[y])
            small.train_on_batch(xs, np.ones((3, 8), np.float32))
            out.append(small.predict_on_batch(xs))
            out.append(model.predict_on_batch(x))

    def predictor(base, out):
        for _ in range(6):
            out.append(base.predict_on_batch(x))

    base, model, small = setup()
    serial_train, serial_pred = [], []
    trainer(model, small, serial_train)
    predictor(base, serial_pred)

    base, model, small = setup()
    got_train, got_pred = [], []
    errors = []

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as error:  # reported below
            errors.append(error)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        worker = threading.Thread(target=guarded, args=(predictor, base, got_pred))
        worker.start()
        guarded(trainer, model, small, got_train)
        worker.join(timeout=120)
    finally:
        sys.setswitchinterval(previous)
    assert not worker.is_alive() and not errors, errors
    for got, want in zip(got_train + got_pred, serial_train + serial_pred, strict=True):
        assert got.tobytes() == want.tobytes()


def test_the_environment_variable_turns_fusion_off(tmp_path):
    # Outside the checkout: in its root Python imports the source folder (no compiled core).
    code = (
        "import numpy as np\n"
        "from pyfrozen import layers\n"
        "from pyfrozen.autograd import trace\n"
        "from pyfrozen.models import Model, fusion\n"
        "inputs = layers.Input((6, 6, 4))\n"
        "y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(5, 3)(inputs)))\n"
        "model = Model(inputs, y)\n"
        "x = np.ones((2, 6, 6, 4), np.float32)\n"
        "model.predict_on_batch(x)\n"
        "with trace() as t:\n"
        "    model.predict_on_batch(x)\n"
        "print(fusion.enabled, sorted({r.kernel for r in t.kernels}))\n")
    for value, expected in (("0", "False ['batchnorm', 'bias_act', 'conv2d']"),
                            ("1", "True ['conv2d']")):
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                             env={**os.environ, "PYFROZEN_FUSION": value},
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected
