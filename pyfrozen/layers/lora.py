"""Low-rank adapters: Keras 3's ``layer.enable_lora(rank)``, computed the way freezing
should work.

With LoRA a layer's base weight ``W`` is frozen and a trainable low-rank product is
added: Dense ``y = x W + s (x A) B``, Conv2D ``y = conv(x, W) + s conv(x, A) B`` (a
k x k convolution to ``rank`` channels, then a 1 x 1 one), Embedding ``y = W[i] +
s A[i] B``, with ``s = lora_alpha / rank``. Keras forms ``W + s A B`` in every forward
pass and backpropagates through it, so the full-size weight gradient is still
computed each step; here the product is never formed: ``W`` gets no weight-gradient
kernel and nothing is saved for it, and the adapter's kernels do work proportional to
``rank``. ``merge_lora()`` folds the adapter into ``W`` for deployment. Keras files of an
adapted model hold what Keras writes: ``lora_rank`` / ``lora_alpha`` in the layer's
config (``get_config``; the constructor takes them and enables the adapter once built)
and the merged weight (``merged_weights``); tfjs and ONNX files hold a plain layer with
the merged weight (pyfrozen.saving.lora_merge).

DepthwiseConv2D (beyond Keras) is the exception, on purpose: its kernel ``(kh, kw, C,
m)`` is tiny, so its weight gradient is cheap (one depthwise backward-weight pass, the
cost of a forward), while a factored adapter costs ``rank`` depthwise passes each way
(48x48x64, batch 32, rank 8, 1 thread: 17.5 ms for a merged step, 19 ms for full
fine-tuning, 815 ms factored). Its adapter is a low-rank factor of the kernel seen as a
``(kh * kw) x (C * m)`` matrix (``A``: ``rank`` shared k x k filters, ``B``: each
output channel's mix of them), and training forms ``K = W + s A B`` (a few KB) and
convolves with it: ``W`` still gets no gradient, and the op saves ``x`` and ``K``, as a
full fine-tuning step would (``x`` for ``K``'s gradient).

Inference (``predict``, ``no_grad``, or a call in which no gradient reaches ``W``, ``A``
or ``B``) computes with ``W + s A B`` formed once and cached, so an adapted layer costs
what a plain one does. The cache is keyed by the three weights' version counters (every
in-place change bumps them: optimizer steps, ``set_weights``, ``assign``, loading),
their buffers and the count of restored writes (gradcheck's perturbations,
pyfrozen.autograd.restored_writes), read before the merged kernel is formed: a change
during the forming leaves a key that no longer matches, so the next call forms it anew.
A kernel formed while another thread applies an optimizer step can mix ``A`` of step
n+1 with ``B`` of step n: the call that formed it computes with it (as a predict racing
a step would with any library), but it is stored under the key read before the step,
which no longer matches, so no later call uses it. Key and kernel sit in one tuple
swapped by a single assignment, so a reader sees either the old pair or the new one,
never a key with another key's kernel. The cache costs one kernel-sized array per
adapted layer once it has predicted (a training call and ``merge_lora()`` drop it).
Embedding keeps its row lookup of ``A`` (a few rows times ``rank``): merging a whole
table to read a few rows would cost more than it saves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.autograd import is_grad_enabled, no_grad
from pyfrozen.autograd.restored_writes import restored_writes
from pyfrozen.layers._args import is_number, positive_int
from pyfrozen.tensor import Tensor


def _finite_alpha(value: Any, layer: Any) -> float | None:
    """``lora_alpha`` checked: None (the rank) or a finite real number."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): lora_alpha must be "
                         f"a finite real number or None. Received: lora_alpha={value!r}")
    return value


class LoraMixin:
    """``enable_lora`` / ``merge_lora`` for a layer with one base weight (a mixin placed
    before Layer). Subclasses name the base weight and the adapter's shapes."""

    lora_enabled = False
    lora_rank: int | None = None
    lora_alpha: float | None = None
    _lora_base = "kernel"  # the attribute holding W
    _lora_names = ("lora_kernel_a", "lora_kernel_b")  # Keras's weight names
    _lora_factored = True  # trains as x W + s (x A) B; False: through W + s A B (depthwise)

    _lora_on_build: tuple | None = None  # (rank, alpha) given to the constructor
    _keras_has_lora = True  # Keras's class takes lora_rank too (its files may carry it)
    _init_keywords = ("lora_rank", "lora_alpha")  # beside the subclass's own arguments

    def __init__(self, *args: Any, lora_rank: int | None = None,
                 lora_alpha: float | None = None, **kwargs: Any) -> None:
        """Keras's ``lora_rank`` / ``lora_alpha`` arguments: the layer enables the adapter
        as soon as it is built (how Keras recreates an adapted layer from its config)."""
        super().__init__(*args, **kwargs)
        self._lora_on_build = None
        if lora_rank is not None:
            self._lora_on_build = (positive_int(lora_rank, "lora_rank"),
                                   _finite_alpha(lora_alpha, self))

    def _maybe_build(self, input_shape: Any) -> None:
        super()._maybe_build(input_shape)
        if self._lora_on_build is not None and self.built:
            rank, alpha = self._lora_on_build
            self._lora_on_build = None
            self.enable_lora(rank, alpha)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.lora_enabled:  # as Keras: from_config enables the adapter again
            config.update(lora_rank=self.lora_rank, lora_alpha=self.lora_alpha)
        elif self._lora_on_build is not None:
            rank, alpha = self._lora_on_build
            config.update(lora_rank=rank, lora_alpha=rank if alpha is None else alpha)
        return config

    def _lora_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        raise NotImplementedError

    def enable_lora(self, rank: int, lora_alpha: float | None = None,
                    a_initializer: Any = "he_uniform", b_initializer: Any = "zeros") -> None:
        """Freezes the base weight and adds the trainable adapter ``A`` (Keras 3's call).

        Args:
            rank: the adapter's inner dimension.
            lora_alpha: the adapter's output is scaled by ``lora_alpha / rank``
                (default ``rank``: scale 1).
            a_initializer, b_initializer: Keras's defaults ("he_uniform", "zeros": the
                layer computes exactly what it did before until the adapter trains).

        Raises:
            ValueError: the layer is not built, LoRA is already enabled, ``rank`` is not
                a positive int or ``lora_alpha`` not a finite real number.
        """
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built. "
                             f"Layer {self.name!r} ({type(self).__name__}) builds on its "
                             "first call or build(input_shape).")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        rank = positive_int(rank, "rank")
        lora_alpha = _finite_alpha(lora_alpha, self)
        a_shape, b_shape = self._lora_shapes(rank)
        name_a, name_b = self._lora_names
        # A frozen layer creates them frozen (Layer.add_weight): LoRA composes with freezing.
        setattr(self, name_a, self.add_weight(name_a, a_shape, a_initializer))
        setattr(self, name_b, self.add_weight(name_b, b_shape, b_initializer))
        base = getattr(self, self._lora_base)
        base.trainable = False
        self._pinned_frozen = (base,)  # layer.trainable = True must leave W frozen
        self._lora_cache = None
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = rank if lora_alpha is None else lora_alpha

    def _lora_adapters(self) -> tuple[Any, Any]:
        return tuple(getattr(self, name) for name in self._lora_names)

    def _lora_scale(self) -> float:
        return float(self.lora_alpha) / float(self.lora_rank)

    def lora_delta(self) -> np.ndarray:
        """``s A B`` shaped like the base weight (what merging adds to it)."""
        a, b = (w.data for w in self._lora_adapters())
        delta = np.tensordot(a, b, axes=([a.ndim - 1], [0])) * self._lora_scale()
        return delta.astype(a.dtype).reshape(getattr(self, self._lora_base).shape)

    def merged_weights(self) -> list[tuple[Any, np.ndarray]]:
        """(weight, value) of what a Keras file holds for this layer, in Keras's order
        (created trainable first): every weight but ``A`` and ``B``, the base weight
        with the adapter folded in (Keras's ``save_own_variables``)."""
        adapters = self._lora_adapters() if self.lora_enabled else ()
        base = getattr(self, self._lora_base)
        return [(p, self.merged_kernel() if adapters and p is base else p.data)
                for p in self._own_weights(True) + self._own_weights(False)
                if all(p is not a for a in adapters)]

    def merged_kernel(self) -> np.ndarray:
        """The base weight with the adapter folded in (a new array; nothing changes)."""
        base = getattr(self, self._lora_base).data
        return base + self.lora_delta() if self.lora_enabled else base.copy()

    def merge_lora(self) -> None:
        """Folds ``s A B`` into the base weight and removes the adapter (for deployment:
        Keras, tfjs and ONNX files hold the merged weight). The base weight then trains
        again whenever the layer does."""
        if not self.lora_enabled:
            raise ValueError(f"layer {self.name!r} has no LoRA adapter to merge: call "
                             "enable_lora(rank) first")
        base = getattr(self, self._lora_base)
        with no_grad():
            np.copyto(base.data, self.merged_kernel())
            base._bump_version()
        adapters = self._lora_adapters()
        keep = [(p, t) for p, t in zip(self._params, self._created_trainable, strict=True)
                if all(p is not a for a in adapters)]
        self._params = [p for p, _ in keep]
        self._created_trainable = [t for _, t in keep]
        for name in self._lora_names:
            delattr(self, name)
        self._pinned_frozen = ()
        self._lora_cache = None
        base.trainable = self.trainable
        self.lora_enabled, self.lora_rank, self.lora_alpha = False, None, None

    def _with_lora(self, inputs: Any, base_output: Any) -> Any:
        """``base_output`` plus the adapter's contribution for ``inputs``."""
        if not self.lora_enabled:
            return base_output
        a, b = self._lora_adapters()
        projected = self._lora_project(inputs, a)
        scale = self._lora_scale()
        if scale != 1.0:  # on the rank-wide projection: a pass over rank, not all, channels
            projected = projected * scale
        return base_output + ops.matmul(projected, b)

    def _lora_trains(self) -> bool:
        """Whether a gradient reaches ``W``, ``A`` or ``B`` in this call (recording on,
        one of them trainable): a factored layer then adds the adapter beside ``W``.

        A training call drops the merged-kernel cache: the step changes ``A`` or ``B``,
        so a kernel cached before it (fit's validation) could never be used again, and
        keeping it would hold a kernel-sized array through training."""
        params = (getattr(self, self._lora_base), *self._lora_adapters())
        trains = is_grad_enabled() and any(p.requires_grad for p in params)
        if trains:
            self._lora_cache = None
        return trains

    def _lora_kernel(self) -> Any:
        """The kernel the layer's base op computes with in this call: the base weight
        without an adapter; while the adapter trains, ``W`` for a factored layer (its
        call adds the adapter beside it) or the recorded ``W + s A B``; otherwise the
        cached merged kernel."""
        base = getattr(self, self._lora_base)
        if not self.lora_enabled:
            return base
        if not self._lora_trains():
            return self._lora_cached_kernel((base, *self._lora_adapters()))
        return base if self._lora_factored else self._lora_merged_tensor()

    def _lora_cached_kernel(self, params: tuple[Any, ...]) -> Tensor:
        # The key is read before the kernel is formed (see the module doc), and the pair
        # is replaced by one assignment: no lock, no torn state between threads.
        key = (self.lora_alpha, self.lora_rank, restored_writes(),
               *((id(p.data), p._version.value) for p in params))
        cached = self._lora_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        kernel = Tensor.from_numpy(self.merged_kernel())
        self._lora_cache = (key, kernel)
        return kernel

    def _lora_merged_tensor(self) -> Any:
        """``W + s A B`` as a recorded expression (gradients reach ``A`` and ``B``, never
        ``W``): the merged-kernel form, for a layer whose kernel is tiny."""
        base = getattr(self, self._lora_base)
        a, b = self._lora_adapters()
        rows, cols = int(np.prod(a.shape[:-1])), int(np.prod(b.shape[1:]))
        product = ops.matmul(ops.reshape(a, (rows, self.lora_rank)),
                             ops.reshape(b, (self.lora_rank, cols)))
        return base + ops.reshape(product, base.shape) * self._lora_scale()

    def _lora_project(self, inputs: Any, a: Any) -> Any:
        """``inputs`` through ``A`` (rank outputs): x A for Dense, a convolution for
        Conv2D, a row lookup for Embedding."""
        return ops.matmul(inputs, a)
