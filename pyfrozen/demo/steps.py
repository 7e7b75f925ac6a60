"""One training step seen by ``pyfrozen.autograd.trace()``: frozen base against all trainable.

Both steps run the same network on the same batch with ``train_on_batch`` (no feature
cache: this shows what freezing alone saves in a step). The trace lists every kernel that
ran, in which pass, for which layer, and the bytes the tape kept for backward; `describe`
turns that into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pyfrozen import optimizers
from pyfrozen.autograd import trace
from pyfrozen.demo.network import mobilenet_like, transfer_model


@dataclass(frozen=True)
class StepTrace:
    """What one traced training step did.

    Attributes:
        label: which model.
        weight_grad_layers: layers whose weight gradients were computed.
        input_grad_layers: layers a gradient was propagated through to their input.
        forward_only_layers: layers that ran forward kernels and nothing else.
        backward_kernels: kernel calls of the backward pass.
        saved_bytes: bytes the tape kept for backward.
    """

    label: str
    weight_grad_layers: list[str]
    input_grad_layers: list[str]
    forward_only_layers: list[str]
    backward_kernels: int
    saved_bytes: int


def _layer_names(model: Any) -> set[str]:
    """Names of the model's layers, nested models opened up (the loss op is not one)."""
    names: set[str] = set()
    for layer in model.layers:
        names.add(layer.name)
        if hasattr(layer, "layers"):
            names |= _layer_names(layer)
    return names


def _traced_step(label: str, model: Any, x: np.ndarray, y: np.ndarray) -> StepTrace:
    model.compile(optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)  # builds the optimizer state outside the trace
    with trace() as t:
        model.train_on_batch(x, y)
    backward = [r for r in t.kernels if r.pass_.startswith("backward")]
    weight = list(dict.fromkeys(r.layer for r in backward if r.pass_ == "backward_weight"))
    layers = _layer_names(model)
    through = list(dict.fromkeys(r.layer for r in backward
                                 if r.pass_ == "backward_input" and r.layer in layers))
    touched = {r.layer for r in backward}
    forward_only = [layer for layer in t.layers() if layer not in touched]
    return StepTrace(label, weight, through, forward_only, sum(r.calls for r in backward),
                     t.saved_bytes)


def trace_steps(x: np.ndarray, y: np.ndarray) -> tuple[StepTrace, StepTrace]:
    """A traced step of the phase-1 model (frozen base) and of the same CNN all trainable."""
    frozen = transfer_model(mobilenet_like(26, "letters"), 10)
    full = mobilenet_like(10, "all_trainable")
    return (_traced_step("frozen base + new head", frozen, x, y),
            _traced_step("all trainable", full, x, y))


def _names(layers: list[str], limit: int = 4) -> str:
    if not layers:
        return "none"
    shown = ", ".join(layers[:limit])
    return shown + (f" and {len(layers) - limit} more" if len(layers) > limit else "")


def describe(step: StepTrace, batch: int) -> list[str]:
    """Sentences for one traced step."""
    kib = step.saved_bytes / 1024
    lines = [f"{step.label}: {step.backward_kernels} backward kernel calls; weight gradients "
             f"for {len(step.weight_grad_layers)} layer(s) ({_names(step.weight_grad_layers)}); "
             f"the gradient went back through {len(step.input_grad_layers)} layer(s); "
             f"{kib:,.0f} KiB kept for backward ({kib / batch:,.1f} KiB per image)"]
    if step.forward_only_layers:
        lines.append(f"  no backward at all, nothing kept: {len(step.forward_only_layers)} "
                     f"layer(s) ran forward only ({_names(step.forward_only_layers)})")
    return lines
