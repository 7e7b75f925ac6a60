"""The frozen prefix of a model: the layers at the bottom whose output is the same in
every training step, so ``fit(cache_frozen_features=True)`` can compute it once per
sample (feature_cache.py) and train the rest on those features.

A layer call belongs to the prefix when all of the following hold:
- none of its weights trains now (``trainable`` flags and freeze masks as they are);
- a training call computes what an inference call would, and changes nothing
  (``Layer._differs_in_training``: Dropout is random, a trainable BatchNormalization
  uses and moves batch statistics; a frozen one runs in inference mode);
- each of its inputs is a model input or an output of the prefix.

Nested functional models (a base called inside the model) are opened up, so
unfreezing the top blocks of a base keeps its lower blocks in the prefix. Keys name
the tensors of the opened-up graph: a model input is ``("in", i)``, an output of a
layer call is ``(path of nested calls, node index, output index)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pyfrozen.autograd import no_grad
from pyfrozen.layers.layer_weights import structure_version
from pyfrozen.models import bn_activation, fusion
from pyfrozen.tensor import Parameter

Key = tuple


class Step(NamedTuple):
    """One layer call of the opened-up graph."""

    layer: Any
    inputs: tuple[Key, ...]
    outputs: tuple[Key, ...]
    as_list: bool  # the layer takes a list of inputs (Add, Concatenate)
    kwargs: dict[str, Any]  # explicit call arguments other than ``training``
    training: bool | None  # explicit here or in an enclosing call; None: the caller's


def _is_functional(layer: Any) -> bool:
    from pyfrozen.models.model import is_functional  # late: model.py imports the trainer

    return is_functional(layer)


def _open(model: Any, path: tuple, inputs: list[Key], training: bool | None,
          steps: list[Step]) -> list[Key]:
    graph = model._graph
    alias = {id(t): k for t, k in zip(graph.inputs, inputs, strict=True)}
    for i, node in enumerate(graph.nodes):
        ins = [alias[id(t)] for t in node.inputs]
        explicit = node.kwargs.get("training")
        node_training = training if explicit is None else bool(explicit)
        kwargs = {k: v for k, v in node.kwargs.items() if k != "training"}
        if _is_functional(node.layer) and not kwargs:
            outs = _open(node.layer, (*path, i), ins, node_training, steps)
        else:
            outs = [(path, i, j) for j in range(len(node.outputs))]
            as_list = isinstance(node.input_structure, (list, tuple))
            steps.append(Step(node.layer, tuple(ins), tuple(outs), as_list, kwargs,
                              node_training))
        for t, key in zip(node.outputs, outs, strict=True):
            alias[id(t)] = key
    return [alias[id(t)] for t in graph.outputs]


def _weights(layer: Any) -> list[Parameter]:
    out: list[Parameter] = []
    layer._collect_weights(out, set())
    return out


class Split(NamedTuple):
    """The prefix steps, the rest, and the keys the rest needs from the prefix."""

    prefix: list[Step]
    rest: list[Step]
    cut: list[Key]  # model inputs and prefix outputs that the rest or the outputs use
    blocked_by: dict[Key, Step]  # per key not in the prefix: the call that kept it out


class FlatGraph:
    """A functional model's layer calls with nested functional models opened up.

    Raises:
        ValueError: the model is not functional (a subclass with its own ``call``).
    """

    def __init__(self, model: Any) -> None:
        if not _is_functional(model):
            raise ValueError(
                f"model {model.name!r} ({type(model).__name__}) defines its own call(): the "
                "frozen-prefix cache needs a functional or Sequential model, whose layer "
                "graph is known")
        self.model = model
        self.input_keys: list[Key] = [("in", i) for i in range(len(model._graph.inputs))]
        self.steps: list[Step] = []
        self.output_keys = _open(model, (), self.input_keys, None, self.steps)
        self.output_is_list = model._graph.output_is_list
        self.layers = list({id(s.layer): s.layer for s in self.steps}.values())
        self.weights = [w for layer in self.layers for w in _weights(layer)]
        self.structure = structure_version()  # a weight or layer added later: open anew
        # (steps, keep) -> (steps, fusion plan); replaced whole, never changed in place
        self._plans: dict[tuple, tuple[list[Step], tuple[dict, dict]]] = {}

    def freeze_state(self) -> tuple:
        """What decides the split: every layer's flag and every weight's trainability
        (the weights as they were when the graph was opened: see ``structure``)."""
        return (tuple(layer._trainable for layer in self.layers),
                tuple(w._requires_grad for w in self.weights))

    def split(self, training: bool = True, random_as_fixed: bool = False) -> Split:
        """The prefix for a call with ``training``, as the flags are now
        (``random_as_fixed``: as if random layers computed the same every step, to
        find frozen layers that only randomness keeps out)."""
        known = set(self.input_keys)
        prefix: list[Step] = []
        rest: list[Step] = []
        blocked_by: dict[Key, Step] = {}
        for step in self.steps:
            blocker = next((blocked_by[k] for k in step.inputs if k in blocked_by), None)
            if blocker is None and not _same_every_step(step, training, random_as_fixed):
                blocker = step
            if blocker is None:
                prefix.append(step)
                known.update(step.outputs)
            else:
                rest.append(step)
                blocked_by.update(dict.fromkeys(step.outputs, blocker))
        used = {k for step in rest for k in step.inputs} | set(self.output_keys)
        cut = [k for k in self.input_keys if k in used]
        cut += [k for step in prefix for k in step.outputs if k in used]
        return Split(prefix, rest, cut, blocked_by)

    def run(self, steps: list[Step], values: dict[Key, Any], training: bool,
            keep: list[Key]) -> dict[Key, Any]:
        """Runs ``steps`` on ``values``; returns the ``keep`` keys' values. Values are
        dropped after their last use, as a model call does; conv -> BN -> ReLU chains
        that record nothing run as one call (pyfrozen.models.fusion), a training-mode
        BN -> ReLU pair as one op (pyfrozen.models.bn_activation)."""
        last = {k: i for i, step in enumerate(steps) for k in step.inputs}
        keep_set = set(keep)
        chains, pairs = self._plan(steps, keep)
        values = dict(values)
        fused: set[int] = set()
        for i, step in enumerate(steps):
            if i in fused:
                continue
            chain, pair = chains.get(i), pairs.get(i)
            y = None if chain is None else fusion.run(
                chain, values[step.inputs[0]], _training(steps[chain.bn_index], training))
            if y is not None:
                values[chain.output] = y
                fused.update(chain.skipped)
            elif pair is not None and (y := bn_activation.run(
                    pair, values[step.inputs[0]], _training(step, training))) is not None:
                values[pair.output] = y
                fused.add(pair.act_index)
            else:
                args = [values[k] for k in step.inputs]
                x = args if step.as_list else args[0]
                on = _training(step, training)
                result = step.layer(x, training=on, **step.kwargs)
                results = list(result) if isinstance(result, (list, tuple)) else [result]
                values.update(zip(step.outputs, results, strict=True))
            for k in step.inputs:
                if last[k] == i and k not in keep_set:
                    values.pop(k, None)
        return {k: values[k] for k in keep}

    def _plan(self, steps: list[Step], keep: list[Key]
              ) -> tuple[dict[int, fusion.Chain], dict[int, bn_activation.Pair]]:
        """The fusion chains and BN -> activation pairs of ``steps`` (planned once)."""
        key = (id(steps), tuple(keep))
        found = self._plans.get(key)
        if found is not None and found[0] is steps:
            return found[1]
        calls = [fusion.Call(s.layer, s.inputs, s.outputs,
                             not s.as_list and len(s.inputs) == 1 and not s.kwargs)
                 for s in steps]
        plan = (fusion.plan(calls, set(keep)), bn_activation.plan(calls, set(keep)))
        plans = dict(self._plans) if len(self._plans) < 8 else {}
        plans[key] = (steps, plan)
        self._plans = plans
        return plan

    def outputs(self, values: dict[Key, Any]) -> Any:
        """The model's outputs from the output keys' values, in the model's structure."""
        results = [values[k] for k in self.output_keys]
        return results if self.output_is_list else results[0]


def _training(step: Step, training: bool) -> bool:
    """The ``training`` value ``step``'s layer is called with."""
    return training if step.training is None else step.training


def trains(layer: Any) -> bool:
    """Whether some weight of ``layer`` (or its sub-layers) trains now."""
    return any(w._requires_grad for w in _weights(layer))


def _same_every_step(step: Step, training: bool, random_as_fixed: bool = False) -> bool:
    if trains(step.layer):
        return False
    on = _training(step, training)
    return random_as_fixed or not step.layer._differs_in_training(on)


def prefix_weights(split: Split) -> list[Parameter]:
    """The weights the prefix computes with (kernels and BatchNormalization statistics)."""
    return [w for step in split.prefix for w in _weights(step.layer)]


def random_blocker(graph: FlatGraph, split: Split, training: bool
                   ) -> tuple[Step, Step] | None:
    """(random call, frozen call above it): a frozen layer with weights that the prefix
    would hold if the random layer below it (Dropout, augmentation) were not random."""
    reached = {id(s) for s in split.prefix}
    extra = [s for s in graph.split(training, random_as_fixed=True).prefix
             if id(s) not in reached]  # the first one is random: its inputs are reached
    frozen = next((s for s in extra if _weights(s.layer)), None)
    return (extra[0], frozen) if frozen is not None else None


def run_prefix(graph: FlatGraph, split: Split, inputs: list[Any], training: bool
               ) -> dict[Key, Any]:
    """The cut's values for one batch of (cast) model inputs, tape-free."""
    values = dict(zip(graph.input_keys, inputs, strict=True))
    with no_grad():
        return graph.run(split.prefix, values, training, split.cut)
