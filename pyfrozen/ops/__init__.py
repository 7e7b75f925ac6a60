"""Differentiable ops on Tensors; each records itself on the tape only when needed."""

from pyfrozen.ops import inplace as inplace  # the module behind Tensor's +=, -=, add_, ...
from pyfrozen.ops.activation import log_softmax, relu, relu6, sigmoid, softmax, tanh
from pyfrozen.ops.batchnorm import batch_norm
from pyfrozen.ops.conv import conv2d, depthwise_conv2d
from pyfrozen.ops.elementwise import add, cast, div, exp, log, mul, neg, pow, sqrt, sub
from pyfrozen.ops.linalg import dense, matmul
from pyfrozen.ops.lookup import embedding
from pyfrozen.ops.loss import binary_cross_entropy, mean_squared_error, softmax_cross_entropy
from pyfrozen.ops.pooling import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from pyfrozen.ops.reduction import mean, sum
from pyfrozen.ops.regularization import dropout
from pyfrozen.ops.shape import concat, getitem, reshape, transpose
from pyfrozen.ops.spatial import pad2d, upsampling2d

__all__ = [
    "add",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "cast",
    "concat",
    "conv2d",
    "dense",
    "depthwise_conv2d",
    "div",
    "dropout",
    "embedding",
    "exp",
    "getitem",
    "global_avg_pool2d",
    "global_max_pool2d",
    "log",
    "log_softmax",
    "matmul",
    "max_pool2d",
    "mean",
    "mean_squared_error",
    "mul",
    "neg",
    "pad2d",
    "pow",
    "relu",
    "relu6",
    "reshape",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "upsampling2d",
]
