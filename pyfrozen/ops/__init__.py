"""Differentiable ops on Tensors; each records itself on the tape only when needed."""

from pyfrozen.ops.elementwise import add, cast, div, mul, neg, sub
from pyfrozen.ops.embedding import embedding
from pyfrozen.ops.linalg import dense, matmul
from pyfrozen.ops.loss import binary_cross_entropy, mean_squared_error, softmax_cross_entropy

__all__ = [
    "add",
    "binary_cross_entropy",
    "cast",
    "dense",
    "div",
    "embedding",
    "matmul",
    "mean_squared_error",
    "mul",
    "neg",
    "softmax_cross_entropy",
    "sub",
]
