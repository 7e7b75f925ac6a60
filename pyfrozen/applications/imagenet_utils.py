"""What every application builder shares (Keras's ``applications.imagenet_utils`` role).

Argument checks with one wording for all builders, the classifier top or feature pooling
at the end of the network, loading a weight file given by path, and the ImageNet input
preprocessing modes ("tf" and "caffe").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from pyfrozen.layers import (
    Dense,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Input,
    KerasTensor,
)
from pyfrozen.models import Model

_Builder = TypeVar("_Builder", bound=Callable[..., Any])

# The text every builder's docstring shares; ``shared_docs`` puts it in place of the
# ``<shared arguments>`` and ``<freezing>`` lines.
_ARGUMENTS_DOC = """\
        weights: None (random initialization, the default) or the path of a weight
            file read by the model's ``load_weights`` (e.g. one written by
            ``save_weights``). "imagenet" raises: nothing is downloaded.
        input_tensor: optional symbolic tensor (``pyfrozen.layers.Input``) to build on.
        pooling: without the top, None (4-D output), "avg" or "max" (2-D output).
        classes: number of classes of the top.
        classifier_activation: activation of the top ("softmax" or None).
"""
_FREEZING_DOC = """\
    Returns:
        A functional :class:`pyfrozen.models.Model`.

    Freezing:
        The usual transfer-learning recipe is ``base = {builder}(include_top=False,
        ...); base.trainable = False; x = base(inputs, training=False)``: the base then
        runs its BatchNormalization layers in inference mode and computes no weight
        gradients; with nothing trainable below, nothing of it is recorded at all.
"""

# The ImageNet channel means (B, G, R order) that "caffe" preprocessing subtracts.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def shared_docs(fine_tuning: str = "") -> Callable[[_Builder], _Builder]:
    """Fills a builder's docstring with the shared argument, return and freezing text;
    ``fine_tuning``: the builder's own closing sentences of the Freezing paragraph."""

    def fill(builder: _Builder) -> _Builder:
        freezing = _FREEZING_DOC.format(builder=builder.__name__)
        if fine_tuning:
            freezing += "".join(f"        {line}\n" for line in fine_tuning.splitlines())
        doc = builder.__doc__
        if doc is None:  # python -OO strips docstrings
            return builder
        if "<shared arguments>" not in doc or "<freezing>" not in doc:
            raise ValueError(f"{builder.__name__}'s docstring lacks the '<shared arguments>' "
                             f"or '<freezing>' line that shared_docs fills")
        builder.__doc__ = doc.replace("        <shared arguments>\n", _ARGUMENTS_DOC).replace(
            "    <freezing>\n", freezing)
        return builder

    return fill


def check_weights(weights: Any) -> None:
    """Refuses 'imagenet' (nothing is downloaded) and a path that is not a file."""
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(
            "weights='imagenet': pyfrozen downloads nothing at run time. Save or convert "
            "pretrained weights to a file (model.save_weights) and pass its path as weights=..."
        )
    if weights is not None and not os.path.isfile(os.fspath(weights)):
        # Keras's message also offers 'imagenet', which is refused above: name only what works.
        problem = "is not a file" if os.path.exists(os.fspath(weights)) else "does not exist"
        raise ValueError(f"The `weights` argument should be either `None` (random "
                         f"initialization) or the path to a weight file written by "
                         f"save_weights. Received: weights={os.fspath(weights)!r}, which "
                         f"{problem}")


def check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be positive. Received: alpha={alpha}")


def check_arguments(input_shape: Any, input_tensor: Any, weights: Any, include_top: bool,
                    pooling: Any, classes: int) -> tuple[int, int, int]:
    """Checks the arguments all builders share; returns the (rows, cols, channels) input.

    Without ``input_shape`` the shape of ``input_tensor`` is used, else (224, 224, 3).
    """
    check_weights(weights)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling}")
    if include_top and (isinstance(classes, bool) or not isinstance(classes, int)
                        or classes < 1):
        raise ValueError(f"classes must be a positive integer. Received: classes={classes}")
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"input_tensor must be a symbolic tensor (pyfrozen.layers.Input or a "
                         f"layer's output). Received: {type(input_tensor).__name__}")
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    shape = (224, 224, 3) if input_shape is None else tuple(input_shape)
    if len(shape) != 3 or shape[0] is None or shape[1] is None or min(shape[:2]) < 32:
        raise ValueError(f"input_shape must be (rows, cols, channels) with rows and cols of at "
                         f"least 32 (channels last). Received: input_shape={input_shape}")
    return shape  # type: ignore[return-value]


def image_input(shape: tuple[int, int, int], input_tensor: Any) -> Any:
    """The model's input: a new ``Input(shape)`` or the caller's symbolic tensor."""
    if input_tensor is None:
        return Input(shape)
    if tuple(input_tensor.shape[1:]) != tuple(shape):
        raise ValueError(f"input_tensor has shape {tuple(input_tensor.shape)}, which does not "
                         f"match input_shape={tuple(shape)} (batch, rows, cols, channels)")
    return input_tensor


def feature_pooling(x: Any, pooling: Any, names: tuple[str, str] | None = None) -> Any:
    """The optional pooling of a base without its top: None (4-D), "avg" or "max" (2-D).

    ``names``: the (average, maximum) pooling layers' names; None for automatic names.
    """
    avg_name, max_name = names or (None, None)
    if pooling == "avg":
        return GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=max_name)(x)
    return x


def dense_top(x: Any, classes: int, classifier_activation: Any,
              pool_name: str | None = None) -> Any:
    """Keras's classifier: global average pooling, then the ``Dense`` "predictions"."""
    x = GlobalAveragePooling2D(name=pool_name)(x)
    return Dense(classes, activation=classifier_activation, name="predictions")(x)


def finish_model(inputs: Any, outputs: Any, name: str, weights: Any) -> Model:
    """The functional model, with the weight file (a path, checked before) loaded."""
    model = Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(os.fspath(weights))
    return model


def preprocess_input(x: Any, data_format: str | None = None, mode: str = "caffe") -> np.ndarray:
    """Keras's ImageNet preprocessing of channels-last images with values 0..255.

    Args:
        x: array of images (..., channels), integer or float.
        data_format: None or "channels_last" (pyfrozen's only layout).
        mode: "tf" scales to [-1, 1] (``x / 127.5 - 1``); "caffe" reverses the channels
            (RGB to BGR) and subtracts the ImageNet mean of each, without scaling.

    Returns:
        A new float32 array (float64 input stays float64); ``x`` is never modified.
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"pyfrozen's images are channels last: data_format must be None or "
                         f"'channels_last'. Received: data_format={data_format!r}")
    array = np.asarray(x)
    if array.dtype != np.float64:
        array = array.astype(np.float32)
    one = array.dtype.type
    if mode == "tf":
        return array / one(127.5) - one(1.0)
    if mode == "caffe":
        if array.ndim == 0 or array.shape[-1] != 3:
            raise ValueError(f"'caffe' preprocessing needs 3 channels last (RGB). Received an "
                             f"array of shape {array.shape}")
        return array[..., ::-1] - np.asarray(_CAFFE_BGR_MEAN, dtype=array.dtype)
    raise ValueError(f"mode must be 'tf' or 'caffe'. Received: mode={mode!r}")
