"""model.export("x.onnx", format="onnx"): whole models in onnxruntime against predict,
the file's interface (names, NHWC, dynamic batch), freezing, and what raises."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers as L
from pyfrozen.applications import MobileNet

TOL = 1e-4


def small_cnn() -> pyfrozen.Model:
    """conv / BN / depthwise / dense, as tests/layers/test_small_cnn_vs_torch.py."""
    return pyfrozen.Sequential([
        L.Input((12, 12, 3), name="image"),
        L.Conv2D(4, 3, strides=2, padding="same", name="conv1"),
        L.BatchNormalization(name="bn1"), L.ReLU(name="relu1"),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw"),
        L.BatchNormalization(name="bn2"),
        L.Conv2D(6, 1, activation="relu6", name="pw"),
        L.GlobalAveragePooling2D(name="gap"), L.Dropout(0.3), L.Dense(5, name="dense")],
        name="small_cnn")


# One line per model: MobileNetV2 / ResNet50 join here once pyfrozen.applications has them.
MODELS = {
    "small_cnn": small_cnn,
    "mobilenet_top": lambda: MobileNet(input_shape=(96, 96, 3), alpha=0.25),
    "mobilenet_top_logits": lambda: MobileNet(input_shape=(96, 96, 3), alpha=0.25,
                                              classifier_activation=None),
    "mobilenet_no_top": lambda: MobileNet(input_shape=(96, 96, 3), alpha=0.25,
                                          include_top=False),
    "mobilenet_no_top_avg": lambda: MobileNet(input_shape=(96, 96, 3), alpha=0.25,
                                              include_top=False, pooling="avg"),
}


def _inputs(model, batch, seed=0):
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.fixture(params=sorted(MODELS))
def built(request, randomize):
    model = MODELS[request.param]()
    randomize(model)
    return model


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_model_matches_predict_for_batches_1_and_3_from_one_file(
        run_onnx, onnxruntime, tmp_path, built, layout):
    path = tmp_path / "model.onnx"
    built.export(str(path), format="onnx", layout=layout)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.shape[0] == "batch" and inp.shape[1:] == list(built.inputs[0].shape[1:])
    assert out.shape[0] == "batch" and out.shape[1:] == list(built.outputs[0].shape[1:])
    for batch in (1, 3):
        x = _inputs(built, batch, seed=batch)
        (got,) = session.run(None, {inp.name: x})
        expected = built.predict(x, verbose=0)
        assert got.shape == expected.shape == (batch, *built.outputs[0].shape[1:])
        assert np.max(np.abs(got - expected)) <= TOL


def test_names_are_the_models(run_onnx, randomize):
    model = MobileNet(input_shape=(96, 96, 3), alpha=0.25)
    randomize(model)
    _, session = run_onnx(model, _inputs(model, 1))
    assert [i.name for i in session.get_inputs()] == [model.inputs[0].node.layer.name]
    assert [o.name for o in session.get_outputs()] == ["predictions"]


def test_frozen_and_masked_models_export_the_same_file(onnx, tmp_path, randomize):
    model = small_cnn()
    randomize(model)
    files = []
    for step in ("unfrozen", "frozen", "masked"):
        if step == "frozen":
            model.trainable = False
        if step == "masked":
            model.trainable = True
            model.get_layer("conv1").set_freeze_mask("kernel", np.arange(4) < 2, axis=-1)
            model.get_layer("bn1").trainable = False
        path = tmp_path / f"{step}.onnx"
        model.export(str(path), format="onnx")
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]


# ---------------------------------------------------------------------------------------
# Graph shapes: nested models, several inputs and outputs, unknown image sizes
# ---------------------------------------------------------------------------------------


def test_nested_models_and_a_shared_layer(max_error, randomize):
    base = MobileNet(input_shape=(64, 64, 3), alpha=0.25, include_top=False)
    base.trainable = False
    head = pyfrozen.Sequential([L.Input((256,)), L.Dense(8, activation="relu"), L.Dense(3)],
                               name="head")
    inputs = L.Input((64, 64, 3), name="image")
    x = L.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = base(x, training=False)
    x = L.GlobalAveragePooling2D()(x)
    shared = L.Dense(256, name="shared")
    x = shared(L.Dropout(0.2)(x))
    model = pyfrozen.Model(inputs, head(shared(x)))
    randomize(model)
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    assert max_error(model, pixels) <= TOL


def test_a_shared_layer_stores_its_weights_once(run_onnx, onnx, tmp_path, randomize):
    inputs = L.Input((6, 6, 4))
    conv = L.Conv2D(4, 3, padding="same", name="shared_conv")
    model = pyfrozen.Model(inputs, conv(conv(inputs)))
    randomize(model)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype(np.float32)
    (got,), _ = run_onnx(model, x, path=tmp_path / "shared.onnx")
    assert np.max(np.abs(got - model.predict(x, verbose=0))) <= TOL
    stored = onnx.load(str(tmp_path / "shared.onnx")).graph.initializer
    assert sorted(t.name for t in stored) == ["shared_conv/bias", "shared_conv/kernel"]


def test_several_inputs_and_outputs(max_error, randomize):
    image = L.Input((8, 8, 2), name="image")
    meta = L.Input((3,), name="meta")
    features = L.Conv2D(4, 3, padding="same", activation="relu", name="features")(image)
    pooled = L.GlobalMaxPooling2D()(features)
    joined = L.Concatenate()([pooled, meta])
    model = pyfrozen.Model([image, meta], [L.Dense(2, name="score")(joined), features])
    randomize(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    m = rng.normal(size=(3, 3)).astype(np.float32)
    assert max_error(model, x, m) <= TOL


def test_unknown_image_size(onnxruntime, run_onnx, randomize):
    inputs = L.Input((None, None, 3), name="image")
    x = L.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x)
    x = L.AveragePooling2D(3, strides=2, padding="same")(x)
    model = pyfrozen.Model(inputs, L.GlobalAveragePooling2D()(x))
    randomize(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 17, 13, 3)).astype(np.float32)
    (got,), session = run_onnx(model, x)
    assert np.max(np.abs(got - model.predict(x, verbose=0))) <= TOL
    y = rng.normal(size=(1, 8, 10, 3)).astype(np.float32)
    (got,) = session.run(None, {"image": y})
    assert np.max(np.abs(got - model.predict(y, verbose=0))) <= TOL


# ---------------------------------------------------------------------------------------
# What raises, and leaves no file behind
# ---------------------------------------------------------------------------------------


class Scale(L.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

    def call(self, x):
        return x * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


def test_user_layer_raises_naming_it_and_writes_nothing(onnx, tmp_path):
    inputs = L.Input((4,))
    model = pyfrozen.Model(inputs, L.Dense(2)(Scale(name="my_scale")(L.Dense(4)(inputs))))
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"layer 'my_scale' of class .*Scale has no ONNX "
                                         r"converter; nothing was written"):
        model.export(str(path), format="onnx")
    assert os.listdir(tmp_path) == []
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="my_scale"):
        model.export(str(path), format="onnx")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_user_layer_inside_a_nested_model_is_named_with_its_path(onnx, tmp_path):
    inner_in = L.Input((4,))
    inner = pyfrozen.Model(inner_in, Scale(name="deep")(inner_in), name="inner")
    inputs = L.Input((4,))
    model = pyfrozen.Model(inputs, inner(inputs))
    with pytest.raises(ValueError, match=r"layer 'inner/deep' of class"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


def test_a_call_with_training_true_raises(onnx, tmp_path):
    inputs = L.Input((3,))
    x = L.Dense(3)(inputs)
    model = pyfrozen.Model(inputs, L.BatchNormalization(name="bn")(x, training=True))
    with pytest.raises(ValueError, match=r"layer 'bn' \(BatchNormalization\) is called with "
                                         r"training=True"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")
    inner_in = L.Input((3,))
    inner = pyfrozen.Model(inner_in, L.Dropout(0.5, name="drop")(inner_in), name="inner")
    model = pyfrozen.Model(inputs, inner(x, training=True))
    with pytest.raises(ValueError, match=r"layer 'inner/drop' \(Dropout\)"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")
    assert os.listdir(tmp_path) == []


def test_training_true_on_frozen_or_stateless_layers_exports(max_error, randomize):
    inputs = L.Input((4, 4, 2))
    bn = L.BatchNormalization(trainable=False)
    x = bn(L.Conv2D(3, 1)(inputs), training=True)  # frozen: inference mode anyway
    model = pyfrozen.Model(inputs, L.ReLU()(L.Dropout(0.0)(x, training=True), training=True))
    randomize(model)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype(np.float32)
    assert max_error(model, x) <= TOL


def test_unbuilt_model_raises(onnx, tmp_path):
    model = pyfrozen.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match=r"model 'sequential.*' is not built"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_subclassed_model_raises(onnx, tmp_path):
    class Net(pyfrozen.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net.predict(np.ones((1, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"\(Net\) defines call\(\) in Python"):
        net.export(str(tmp_path / "m.onnx"), format="onnx")


def test_float64_model_raises_naming_the_layer(onnx, tmp_path):
    inputs = L.Input((3,), dtype="float64")
    model = pyfrozen.Model(inputs, L.Dense(2, dtype="float64", name="wide")(inputs))
    with pytest.raises(ValueError, match=r"layer 'wide' \(Dense\) has dtype float64; ONNX "
                                         r"export supports float32"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


def test_python_activation_raises_naming_the_layer(onnx, tmp_path):
    inputs = L.Input((3,))
    model = pyfrozen.Model(inputs, L.Dense(2, activation=lambda t: t * 2, name="odd")(inputs))
    with pytest.raises(ValueError, match=r"layer 'odd' \(Dense\): the activation .* is a "
                                         r"Python callable"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


def test_bad_arguments_raise(onnx, tmp_path):
    model = small_cnn()
    path = str(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"opset_version must be an int from 13 to \d+"):
        model.export(path, format="onnx", opset_version=9)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'input_shape'"):
        model.export(path, format="onnx", input_shape=(1, 2))
    with pytest.raises(ValueError, match="layout must be one of"):
        model.export(path, format="onnx", layout="nwhc")
    assert os.listdir(tmp_path) == []


def test_other_opsets_load_in_onnxruntime(run_onnx, onnx, randomize):
    model = small_cnn()
    randomize(model)
    x = _inputs(model, 2)
    for opset in (13, onnx.defs.onnx_opset_version()):
        (got,), session = run_onnx(model, x, opset_version=opset)
        assert np.max(np.abs(got - model.predict(x, verbose=0))) <= TOL


def test_without_onnx_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    with pytest.raises(ImportError, match=r'pip install "pyfrozen\[onnx\]"'):
        small_cnn().export(str(tmp_path / "m.onnx"), format="onnx")
    assert not (tmp_path / "m.onnx").exists()
