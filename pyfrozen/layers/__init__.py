"""Keras-style layers (NHWC, Keras weight shapes and names)."""

from pyfrozen.layers.dense import Dense
from pyfrozen.layers.input_layer import Input, InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.layers.symbolic import KerasTensor

__all__ = ["Dense", "Input", "InputLayer", "KerasTensor", "Layer"]
