"""Reverse-mode autograd that records only what a trainable parameter needs."""

from pyfrozen.autograd.tape import Node, reverse_topological_order

__all__ = ["Node", "reverse_topological_order"]
