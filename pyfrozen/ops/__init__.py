"""Differentiable ops on Tensors; each records itself on the tape only when needed."""

from pyfrozen.ops.batchnorm import batch_norm
from pyfrozen.ops.conv import conv2d, depthwise_conv2d
from pyfrozen.ops.elementwise import add, cast, div, mul, neg, sub
from pyfrozen.ops.linalg import dense, matmul
from pyfrozen.ops.pooling import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d

__all__ = [
    "add",
    "avg_pool2d",
    "batch_norm",
    "cast",
    "conv2d",
    "dense",
    "depthwise_conv2d",
    "div",
    "global_avg_pool2d",
    "global_max_pool2d",
    "matmul",
    "max_pool2d",
    "mul",
    "neg",
    "sub",
]
