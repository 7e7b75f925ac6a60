"""Layer.weights / trainable_weights / non_trainable_weights walk with one identity set
(linear): the order and contents are those of the former per-weight scan (kept here as
the reference), on a model with a shared layer, a nested model, frozen parts and a
sub-layer tracked twice."""

from __future__ import annotations

import pyfrozen
from pyfrozen import layers


def _reference_weights(layer):
    """The former definition: own weights, then each sub-layer's not already listed."""
    out = layer._own_weights(True) + layer._own_weights(False)
    for child in layer._tracked:
        out += [w for w in _reference_weights(child) if all(w is not o for o in out)]
    return out


def _ids(weights):
    return [id(w) for w in weights]


class _Pair(pyfrozen.layers.Layer):
    """A custom layer holding the same Dense twice and a BatchNormalization."""

    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.first = dense
        self.bn = layers.BatchNormalization()
        self.again = [dense]  # tracked once: the list holds a layer already tracked

    def call(self, x):
        return self.bn(self.first(self.first(x)))


def _model():
    base_in = pyfrozen.Input((6,))
    shared = layers.Dense(6, name="shared")
    x = shared(shared(base_in))
    x = layers.BatchNormalization(name="bn")(x)
    base = pyfrozen.Model(base_in, x, name="base")
    inputs = pyfrozen.Input((6,))
    y = base(inputs)
    y = _Pair(layers.Dense(6, name="inner"), name="pair")(y)
    y = layers.Dense(3, name="head")(y)
    return base, pyfrozen.Model(inputs, y)


def test_weights_keep_their_order_and_each_weight_once():
    base, model = _model()
    assert len({id(w) for w in model.weights}) == len(model.weights)
    assert _ids(model.weights) == _ids(_reference_weights(model))
    base.trainable = False
    model.get_layer("pair").bn.trainable = False
    for layer in (model, base, model.get_layer("pair")):
        ref = _reference_weights(layer)
        trainable = [w for w in ref if w.trainable and w.requires_grad]
        if not layer.trainable:
            trainable = []
        assert _ids(layer.weights) == _ids(ref)
        assert _ids(layer.trainable_weights) == _ids(trainable)
        assert _ids(layer.non_trainable_weights) == _ids(
            [w for w in ref if all(w is not t for t in trainable)])
    assert len(model.trainable_weights) == 4  # inner and head kernels and biases
