"""Differentiable ops on Tensors; each records itself on the tape only when needed."""

from pyfrozen.ops.elementwise import add, cast, div, mul, neg, sub
from pyfrozen.ops.linalg import dense, matmul

__all__ = ["add", "cast", "dense", "div", "matmul", "mul", "neg", "sub"]
