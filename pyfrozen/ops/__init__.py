"""Differentiable ops on Tensors; each records itself on the tape only when needed."""

from pyfrozen.ops.activation import log_softmax, relu, relu6, sigmoid, softmax, tanh
from pyfrozen.ops.dropout import dropout
from pyfrozen.ops.elementwise import add, cast, div, exp, log, mul, neg, pow, sqrt, sub
from pyfrozen.ops.linalg import dense, matmul
from pyfrozen.ops.reduction import mean, sum
from pyfrozen.ops.shape import concat, getitem, reshape, transpose

__all__ = [
    "add",
    "cast",
    "concat",
    "dense",
    "div",
    "dropout",
    "exp",
    "getitem",
    "log",
    "log_softmax",
    "matmul",
    "mean",
    "mul",
    "neg",
    "pow",
    "relu",
    "relu6",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
