"""Keras-style layers (NHWC, Keras weight shapes and names)."""

from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.conv2d import Conv2D
from pyfrozen.layers.dense import Dense
from pyfrozen.layers.depthwise_conv2d import DepthwiseConv2D
from pyfrozen.layers.input_layer import Input, InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.layers.separable_conv2d import SeparableConv2D
from pyfrozen.layers.symbolic import KerasTensor

__all__ = [
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "SeparableConv2D",
]
