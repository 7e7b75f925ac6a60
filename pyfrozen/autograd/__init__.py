"""Reverse-mode autograd that records only what a trainable parameter needs."""

from pyfrozen.autograd.function import Function
from pyfrozen.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    name_scope,
    no_grad,
)
from pyfrozen.autograd.gradcheck import GradcheckError, gradcheck
from pyfrozen.autograd.tape import Node, reverse_topological_order
from pyfrozen.autograd.trace import KernelRecord, Trace, trace

__all__ = [
    "Function",
    "GradcheckError",
    "KernelRecord",
    "Node",
    "Trace",
    "enable_grad",
    "gradcheck",
    "inference_mode",
    "is_grad_enabled",
    "name_scope",
    "no_grad",
    "reverse_topological_order",
    "trace",
]
