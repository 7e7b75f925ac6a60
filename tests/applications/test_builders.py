"""What every application builder shares (applications/imagenet_utils.py): argument
errors, weight files given by path, input tensors, the frozen-base transfer recipe and
the preprocessing modes. Each builder runs at a small size."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.applications import MobileNet, MobileNetV2, ResNet50, imagenet_utils
from pyfrozen.layers import Dense, GlobalAveragePooling2D, Input
from pyfrozen.models import Model

SMALL = {MobileNet: dict(alpha=0.25), MobileNetV2: dict(alpha=0.35), ResNet50: {}}
BUILDERS = pytest.mark.parametrize("builder", list(SMALL), ids=lambda b: b.__name__)


def build(builder, **kwargs):
    return builder(**{**SMALL[builder], **kwargs})


# Keras 3's own summary counts (total, trainable, non-trainable) for the same arguments.
KERAS_COUNTS = [
    (MobileNetV2, dict(include_top=False), "mobilenetv2_1.00_224", (None, 7, 7, 1280),
     (2_257_984, 2_223_872, 34_112)),
    (MobileNetV2, dict(), "mobilenetv2_1.00_224", (None, 1000),
     (3_538_984, 3_504_872, 34_112)),
    (MobileNetV2, dict(alpha=0.35, input_shape=(96, 96, 3), include_top=False),
     "mobilenetv2_0.35_96", (None, 3, 3, 1280), (410_208, 396_128, 14_080)),
    (ResNet50, dict(include_top=False), "resnet50", (None, 7, 7, 2048),
     (23_587_712, 23_534_592, 53_120)),
    (ResNet50, dict(), "resnet50", (None, 1000), (25_636_712, 25_583_592, 53_120)),
]


def counts(model):
    s = model.summary(print_fn=lambda text: None)
    return s.total_params, s.trainable_params, s.non_trainable_params


@pytest.mark.parametrize(("builder", "kwargs", "name", "shape", "expected"), KERAS_COUNTS,
                         ids=lambda v: v.__name__ if callable(v) else None)
def test_keras_counts_and_freezing_moves_every_count(builder, kwargs, name, shape, expected):
    model = builder(**kwargs)
    assert counts(model) == expected
    assert model.name == name and model.outputs[0].shape == shape
    model.trainable = False
    assert counts(model) == (expected[0], 0, expected[0])


@BUILDERS
def test_argument_errors(builder):
    with pytest.raises(ValueError, match="downloads nothing at run time"):
        build(builder, weights="imagenet")
    with pytest.raises(ValueError, match="path to a weight file") as missing:
        build(builder, weights="/nonexistent/file.safetensors")
    # Only what is accepted: 'imagenet' is refused (above), so the message must not offer it.
    assert "imagenet" not in str(missing.value)
    assert "'/nonexistent/file.safetensors', which does not exist" in str(missing.value)
    with pytest.raises(ValueError, match="at least 32"):
        build(builder, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"\(rows, cols, channels\)"):
        build(builder, input_shape=(64, 64))
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max'"):
        build(builder, include_top=False, pooling="min", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        build(builder, classes=0, input_shape=(64, 64, 3))


@BUILDERS
def test_weights_folder_is_refused_before_building(builder, tmp_path):
    with pytest.raises(ValueError, match=r"which is not a file$"):
        build(builder, input_shape=(64, 64, 3), weights=tmp_path)


@BUILDERS
def test_weights_file_round_trip(builder, tmp_path):
    path = tmp_path / "weights.safetensors"
    a = build(builder, include_top=False, input_shape=(32, 32, 3))
    a.save_weights(str(path))
    b = build(builder, include_top=False, input_shape=(32, 32, 3), weights=path)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


@BUILDERS
def test_input_tensor_gives_the_shape_or_must_match_it(builder):
    inp = Input((40, 48, 3))
    model = build(builder, include_top=False, input_tensor=inp)
    assert model.inputs[0] is inp
    assert model.outputs[0].shape[0] is None and model.outputs[0].shape[-1] > 0
    with pytest.raises(ValueError, match=r"input_tensor has shape \(None, 40, 48, 3\)"):
        build(builder, include_top=False, input_tensor=inp, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="input_tensor must be a symbolic tensor.*ndarray"):
        build(builder, include_top=False, input_tensor=np.zeros((1, 40, 48, 3), np.float32))


@BUILDERS
def test_frozen_base_transfer_recipe_records_only_the_head(builder):
    base = build(builder, include_top=False, input_shape=(32, 32, 3))
    base.trainable = False
    inp = Input((32, 32, 3))
    features = base(inp, training=False)
    head = Dense(5, name="head")
    model = Model(inp, head(GlobalAveragePooling2D()(features)))
    x = pyfrozen.tensor(np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32))
    with pyfrozen.autograd.trace() as t:
        y = model(x, training=True)
        y.backward(np.ones((2, 5), np.float32))
    assert t.nodes == 1 and head.kernel.grad is not None
    assert all(w.grad is None for w in base.weights)
    width = base.outputs[0].shape[-1]
    assert t.saved_bytes == 2 * width * 4  # only the pooled features, kept for head's kernel


def test_preprocess_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="mode must be 'tf' or 'caffe'"):
        imagenet_utils.preprocess_input(np.zeros(3), mode="torch")
    with pytest.raises(ValueError, match=r"3 channels last .* shape \(2, 3, 4, 4\)"):
        imagenet_utils.preprocess_input(np.zeros((2, 3, 4, 4)))  # channels first
    with pytest.raises(ValueError, match="data_format must be None or 'channels_last'"):
        imagenet_utils.preprocess_input(np.zeros((1, 3)), data_format="channels_first")


@BUILDERS
def test_fit_with_a_frozen_base_moves_only_the_head(builder):
    # The docstrings' Freezing recipe, end to end: weights and BN statistics of the base
    # stay bit-identical through fit (training=False keeps BN in inference mode).
    base = build(builder, include_top=False, input_shape=(32, 32, 3))
    base.trainable = False
    inp = Input((32, 32, 3))
    head = Dense(3, activation="softmax", name="head")
    model = Model(inp, head(GlobalAveragePooling2D()(base(inp, training=False))))
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    before = [w.numpy().copy() for w in base.weights]
    head_before = head.bias.numpy().copy()  # (random bases may give ~0 features)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for w, old in zip(base.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), old)
    assert not np.array_equal(head.bias.numpy(), head_before)
