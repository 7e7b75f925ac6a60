"""Training-mode BatchNormalization -> activation as one op (models/bn_activation.py): a
training step runs no activation kernel of its own for a fused pair and ends with the
same bits as the layers one by one; pairs that cannot fuse run unfused."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import pyfrozen
from pyfrozen import applications, layers
from pyfrozen.autograd import trace
from pyfrozen.models import Model, fusion
from pyfrozen.ops import batchnorm as batchnorm_ops
from pyfrozen.utils import set_random_seed

ACTIVATIONS = {
    "ReLU": lambda: layers.ReLU(),
    "ReLU(6)": lambda: layers.ReLU(6.0),
    "ReLU6": lambda: layers.ReLU6(),
    "Activation(relu)": lambda: layers.Activation("relu"),
    "Activation(relu6)": lambda: layers.Activation("relu6"),
    "Activation(sigmoid)": lambda: layers.Activation("sigmoid"),
    "Activation(tanh)": lambda: layers.Activation("tanh"),
}


ACTIVATION_KERNELS = Counter({("bias_act", "forward"): 1, ("bias_act", "backward_input"): 1})


def _train(build, x, y, fuse: bool, steps: int = 2, traced: list | None = None
           ) -> tuple[list[np.ndarray], Counter]:
    """Weights (moving statistics included) after ``steps`` SGD-momentum steps, and the
    kernels (name, pass) the last step ran (its whole trace appended to ``traced``)."""
    set_random_seed(0)
    model = build()
    model.compile(pyfrozen.optimizers.SGD(0.05, momentum=0.9), "mse")
    before, fusion.enabled = fusion.enabled, fuse
    try:
        for _ in range(steps - 1):
            model.train_on_batch(x, y)
        with trace() as t:
            model.train_on_batch(x, y)
    finally:
        fusion.enabled = before
    if traced is not None:
        traced.append(t)
    return model.get_weights(), Counter((r.kernel, r.pass_) for r in t.kernels
                                        for _ in range(r.calls))


def _assert_same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for got, want in zip(a, b, strict=True):
        assert got.tobytes() == want.tobytes()


def _dense_bn(activation: str, frozen_gamma: bool = False):
    def build() -> Model:
        inputs = layers.Input((5,))
        bn = layers.BatchNormalization(beta_initializer="ones", gamma_initializer="ones")
        x = ACTIVATIONS[activation]()(bn(layers.Dense(6, name="dense")(inputs)))
        model = Model(inputs, layers.Dense(2, name="head")(x))
        if frozen_gamma:
            bn.gamma.trainable = False
        return model

    return build


def _data(shape=(16, 5), out=2):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype(np.float32) * 2
    return x, rng.normal(size=(shape[0], out)).astype(np.float32)


@pytest.mark.parametrize("frozen_gamma", [False, True], ids=["gamma_trains", "gamma_frozen"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_a_pair_trains_as_its_layers_one_by_one(activation, frozen_gamma):
    x, y = _data()
    fused, ran = _train(_dense_bn(activation, frozen_gamma), x, y, fuse=True)
    unfused, ran_unfused = _train(_dense_bn(activation, frozen_gamma), x, y, fuse=False)
    _assert_same_bits(fused, unfused)
    # One op: the activation's own kernel ran neither forward nor backward (the Dense
    # layers' bias passes are bias_act calls too, in both runs).
    assert ran + ACTIVATION_KERNELS == ran_unfused


def _mobilenet() -> Model:
    return applications.MobileNet(alpha=0.25, include_top=True, input_shape=(32, 32, 3),
                                  classes=3, dropout=0.0)


def _mobilenet_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 32, 3)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]


def test_mobilenet_trains_with_every_pair_fused_and_the_same_bits():
    x, y = _mobilenet_data()
    fused, ran = _train(_mobilenet, x, y, fuse=True)
    unfused, ran_unfused = _train(_mobilenet, x, y, fuse=False)
    _assert_same_bits(fused, unfused)
    # Each BatchNormalization's ReLU6, forward and backward (the first conv's input
    # needs no gradient, but its BatchNormalization's gamma does); fusion off also runs
    # the four ZeroPadding2D layers that pad_fold.py folds into their convolutions. The
    # nine stride-1 depthwise convolutions run forward once more: each pair's backward
    # recomputes the output it read instead of keeping it.
    pads = Counter({("pad2d", "forward"): 4, ("pad2d", "backward_input"): 4})
    recomputed = Counter({("depthwise_conv2d", "forward"): 9})
    assert ran + Counter({k: 27 for k in ACTIVATION_KERNELS}) + pads == (
        ran_unfused + recomputed)
    assert ran[("batchnorm", "forward")] == 27


def test_a_depthwise_output_is_recomputed_not_kept(monkeypatch):
    x, y = _mobilenet_data()
    traces: list = []
    joined, ran = _train(_mobilenet, x, y, fuse=True, traced=traces)
    monkeypatch.setattr(batchnorm_ops, "output_recomputer", lambda y: None)
    apart, ran_apart = _train(_mobilenet, x, y, fuse=True, traced=traces)
    _assert_same_bits(joined, apart)
    assert ran == ran_apart + Counter({("depthwise_conv2d", "forward"): 9})
    # Each recomputed in its BatchNormalization's backward, under that layer's name.
    assert sum(r.calls for r in traces[0].ran(kernel="depthwise_conv2d", pass_="forward")
               if r.layer.startswith("conv_dw_") and r.layer.endswith("_bn")) == 9
    # What is no longer kept: exactly the nine stride-1 depthwise outputs (a stride-2
    # output is a quarter of its input: not worth recomputing).
    model = _mobilenet()
    stride1 = [layer for layer in model.layers
               if type(layer) is layers.DepthwiseConv2D and layer.strides == (1, 1)]
    assert len(stride1) == 9
    outputs = Model(model.inputs, [layer.output for layer in stride1]).predict_on_batch(x)
    assert traces[1].saved_bytes - traces[0].saved_bytes == sum(o.nbytes for o in outputs)


def _blocked(case: str) -> Model:
    inputs = layers.Input((5,))
    h = layers.Dense(6, use_bias=False)(inputs)
    bn = layers.BatchNormalization()
    z = bn(h)
    if case == "bn_is_an_output":
        return Model(inputs, [layers.ReLU()(z), z])
    if case == "bn_feeds_two":
        return Model(inputs, layers.Add()([layers.ReLU()(z), z]))
    if case == "softmax":  # not one of the kernels' activations
        return Model(inputs, layers.Activation("softmax")(z))
    if case == "bn_frozen":  # inference mode in training: no batch statistics to fuse
        bn.trainable = False
    return Model(inputs, layers.ReLU()(z))


@pytest.mark.parametrize("case", ["bn_is_an_output", "bn_feeds_two", "softmax", "bn_frozen"])
def test_a_pair_that_cannot_fuse_runs_its_layers(case):
    model = _blocked(case)
    pairs = model._graph.bn_activations
    assert len(pairs) == (0 if case in ("bn_is_an_output", "bn_feeds_two") else 1)
    x, _ = _data()
    with trace() as t:
        outputs = model(x, training=True)
    ran = Counter((r.kernel, r.pass_) for r in t.kernels)
    # the activation ran on its own
    assert ran[("softmax" if case == "softmax" else "bias_act", "forward")] == 1
    before, fusion.enabled = fusion.enabled, False
    try:
        want = model(x, training=True)
    finally:
        fusion.enabled = before
    for got, w in zip(outputs if isinstance(outputs, list) else [outputs],
                      want if isinstance(want, list) else [want], strict=True):
        assert got.numpy().tobytes() == w.numpy().tobytes()


def test_a_cached_fit_runs_the_pairs_above_its_cut_fused():
    # fit(cache_frozen_features=True) replays the layers above the frozen prefix through
    # the prefix module's own graph runner: its pairs are planned and fused there too.
    def build() -> Model:
        inputs = layers.Input((5,))
        h = layers.Dense(6, trainable=False, name="frozen")(inputs)
        h = layers.ReLU()(layers.BatchNormalization()(h))
        return Model(inputs, layers.Dense(2, name="head")(h))

    x, y = _data((32, 5))
    runs = []
    for fuse in (True, False):
        set_random_seed(0)
        model = build()
        model.compile(pyfrozen.optimizers.SGD(0.05, momentum=0.9), "mse")
        before, fusion.enabled = fusion.enabled, fuse
        try:
            with trace() as t:
                model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                          cache_frozen_features=True)
        finally:
            fusion.enabled = before
        runs.append((model.get_weights(), Counter((r.kernel, r.pass_) for r in t.kernels
                                                  for _ in range(r.calls))))
    (fused, ran), (unfused, ran_unfused) = runs
    _assert_same_bits(fused, unfused)
    steps = 8  # 4 batches x 2 epochs, each with the ReLU's forward and backward
    assert ran + Counter({k: steps for k in ACTIVATION_KERNELS}) == ran_unfused


def _depthwise_block(case: str):
    def build() -> Model:
        inputs = layers.Input((6, 6, 2))
        stem = layers.Conv2D(3, 1, trainable=case != "input_frozen")
        dw = layers.DepthwiseConv2D(3, padding="valid" if case == "padded" else "same",
                                    strides=2 if case == "stride2" else 1,
                                    depth_multiplier=1 if case == "stride2" else 2,
                                    activation="relu" if case == "dw_activation" else None)
        h = stem(inputs)
        z = dw(layers.ZeroPadding2D(1)(h) if case == "padded" else h)
        bn = layers.BatchNormalization()
        h = layers.ReLU(6.0)(bn(z))
        if case == "dw_feeds_two":
            h = layers.Add()([h, z])
        if case == "kernel_frozen":
            dw.trainable = False
        if case == "lora":
            dw.enable_lora(2)
        if case == "bn_frozen":
            bn.trainable = False
        return Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(h)))

    return build


@pytest.mark.parametrize(("case", "recomputed"), [
    ("plain", True), ("padded", True), ("lora", True), ("stride2", False),
    ("kernel_frozen", False),
    ("input_frozen", False), ("dw_activation", False), ("dw_feeds_two", False),
    ("bn_frozen", False)])
def test_a_depthwise_output_is_recomputed_only_when_it_pays(case, recomputed):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    fused, ran = _train(_depthwise_block(case), x, y, fuse=True)
    unfused, ran_unfused = _train(_depthwise_block(case), x, y, fuse=False)
    _assert_same_bits(fused, unfused)
    forwards = ran[("depthwise_conv2d", "forward")] - ran_unfused[("depthwise_conv2d", "forward")]
    assert forwards == (1 if recomputed else 0)  # the recomputation in backward
