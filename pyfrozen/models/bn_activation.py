"""BatchNormalization in training mode -> ReLU / ReLU6 / activation as one op.

A training step records conv -> BatchNormalization -> ReLU6 layer by layer (the
inference fold of ``fusion.py`` does not apply: the batch statistics change every
step). The BatchNormalization and its activation still make one op: the activation is
applied in the pass that normalizes, and its gradient is read from the output inside
the BatchNormalization's backward passes (``ops.batch_norm(..., activation=...)``).
That saves, per pair, a read and a write of the activation forward and a pass writing
the activation's gradient backward, and the BatchNormalization's own output is never
made. Results are bit-identical to the two layers run one by one (tested), except that
a NaN's sign bit may differ (with sigmoid: the compiler may order a sum's operands
differently once the activation's gradient is inlined, and x86 keeps the first NaN).

A pair is fused when (checked at every call; otherwise the two layers run as always):
- both layers are of the built-in class (``BatchNormalization``; ``ReLU`` / ``ReLU6``
  or an ``Activation`` the kernels fuse), each called with one input and no argument
  but ``training``;
- the BatchNormalization's output has no other reader and is not an output of the
  model;
- the BatchNormalization uses batch statistics for this call (``training`` true and
  the layer trainable); in inference mode the fold of ``fusion.py`` or the plain
  layers run;
- both layers have one dtype, and fusion is on (``fusion.enabled``).

When the BatchNormalization's input is a DepthwiseConv2D's output that nothing else
reads, the pair's op also keeps, instead of that output, a function that recomputes it
in backward (``ops.batch_norm(recompute_input=True)``): a depthwise convolution is
cheap, and its output is then freed once the pair has read it, one activation fewer
kept per block. The convolution still runs as its own op (its kernels and weight
gradient under its own name in ``trace()``); the op recomputes only when the
convolution's node keeps its input and kernel (both train), it has no activation and its
output is at least half its input's size (stride 1: a stride-2 output is a quarter of
the input that recomputing it reads; see ``ops.conv.output_recomputer``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from pyfrozen import ops
from pyfrozen.autograd import name_scope
from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.depthwise_conv2d import DepthwiseConv2D
from pyfrozen.layers.layer import shape_of
from pyfrozen.models import fusion
from pyfrozen.tensor import Tensor


class Pair(NamedTuple):
    """BatchNormalization -> activation found in a graph."""

    bn_index: int  # index of the BatchNormalization's call (where the fused op runs)
    act_index: int  # index of the activation's call (skipped when fused)
    output: Hashable  # key of the activation's output
    bn: Any
    activation: Any
    recompute_input: bool = False  # the BN's input: a DepthwiseConv2D's, read only here


def plan(calls: Sequence[fusion.Call], kept: set[Hashable]) -> dict[int, Pair]:
    """The pairs among ``calls`` (in execution order), keyed by the BatchNormalization's
    index. ``kept``: keys needed beyond these calls; the BN's output among them blocks."""
    readers = fusion.Readers(calls, kept)
    depthwise = {c.outputs[0] for _, c in fusion.single_output_calls(calls, (DepthwiseConv2D,))}
    pairs: dict[int, Pair] = {}
    for i, call in fusion.single_output_calls(calls, (BatchNormalization,)):
        j = readers.only(call.outputs[0], fusion.ACTIVATION_LAYERS)
        if j is not None:
            x = call.inputs[0]
            recompute = x in depthwise and readers.only(x, (BatchNormalization,)) == i
            pairs[i] = Pair(i, j, calls[j].outputs[0], call.layer, calls[j].layer, recompute)
    return pairs


def run(pair: Pair, x: Any, training: bool | None) -> Tensor | None:
    """The pair's output as one op, or None when the layers must run one by one now.

    Args:
        pair: from :func:`plan`.
        x: the BatchNormalization's input.
        training: the ``training`` value the BatchNormalization's call gets.
    """
    bn, act = pair.bn, pair.activation
    if not (fusion.enabled and bn.built and bn._differs_in_training(training)):
        return None
    name = fusion.fused_activation(act)
    if name in (None, "none") or bn.dtype != act.dtype:
        return None
    x = bn._cast_input(x)
    if not isinstance(x, Tensor):
        return None
    bn._maybe_build(shape_of(x))  # the unfused call's input-shape check
    with name_scope(bn.name):
        return ops.batch_norm(x, bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance,
                              training=True, momentum=bn.momentum, epsilon=bn.epsilon,
                              activation=name, recompute_input=pair.recompute_input)
