"""The Layer contract: user-defined layers, weights, freezing, casting, training flag."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.layers import BatchNormalization, Dense, Input, Layer
from pyfrozen.layers.layer import unique_name
from pyfrozen.models import Model, Sequential
from pyfrozen.testing import check_layer


class Affine(Layer):
    """A user-defined layer: y = x * scale + shift, per feature."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), "ones")
        self.shift = self.add_weight("shift", (input_shape[-1],), "zeros")
        self.calls = self.add_weight("calls", (), "zeros", trainable=False)

    def call(self, x):
        return x * self.scale + self.shift


class SeesTraining(Layer):
    """Records the training flag each call received."""

    seen: list = []

    def call(self, x, training=None):
        SeesTraining.seen.append(training)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def test_user_layer_passes_the_layer_harness():
    report = check_layer(Affine, {}, (3, 4), expected_output_shape=(3, 4),
                         expected_num_trainable_weights=2, expected_num_non_trainable_weights=1,
                         expected_num_params=9)
    assert report.layer.built


def test_user_layer_trains_and_freezes_like_a_builtin():
    layer = Affine()
    x = pyfrozen.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    layer(x).backward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(layer.scale.grad.data, [3.0, 5.0, 7.0])
    layer.scale.grad = layer.shift.grad = None
    layer.trainable = False
    with trace() as t:
        y = layer(x)
    assert not y.requires_grad and t.nodes == 0 and layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 3


def test_weights_lists_and_copies():
    layer = Dense(2)
    layer.build((None, 3))
    layer.built = True
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    values = layer.get_weights()
    values[0][:] = 7.0
    assert not (layer.kernel.data == 7.0).any()
    with pytest.raises(ValueError, match=r"weight 'kernel': expected shape \(3, 2\), received"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="has 2 weights, but set_weights received 1"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="already has a weight named 'kernel'"):
        layer.add_weight("kernel", (1,))


def test_count_params_needs_a_built_layer():
    with pytest.raises(ValueError, match="isn't built"):
        Dense(2).count_params()


def test_trainable_is_recursive_and_gates_children():
    inner = Dense(3, name="inner")
    outer = Sequential([Input((2,)), inner, Dense(1)])
    outer.trainable = False
    assert outer.trainable_weights == [] and not inner.trainable
    assert not inner.kernel.requires_grad
    outer.trainable = True
    assert len(outer.trainable_weights) == 4


def test_freeze_masks_survive_trainable_toggles():
    layer = Dense(4)
    layer(np.ones((1, 3)))
    layer.set_freeze_mask("kernel", np.array([True, False, False, True]))
    layer.trainable = False
    layer.trainable = True
    assert layer.kernel.trainable_count() == 6
    layer.set_freeze_mask("kernel", None)
    assert layer.kernel.trainable_count() == 12
    with pytest.raises(ValueError, match="has no weight 'gamma'; it has"):
        layer.set_freeze_mask("gamma", np.array([True]))


def test_float64_data_into_a_float32_layer_is_cast():
    layer = Dense(2)
    y = layer(np.ones((1, 3), np.float64))
    assert y.dtype == np.float32 and layer.kernel.dtype == np.float32
    x64 = pyfrozen.tensor(np.ones((1, 3)), requires_grad=True)
    layer(x64).backward(np.ones((1, 2), np.float32))
    assert x64.grad.dtype == np.float64  # the cast is differentiable


def test_call_site_training_false_holds_for_a_sub_model():
    inp = Input((2,))
    base = Model(inp, SeesTraining()(inp), name="base_for_training")
    x = Input((2,))
    outer = Model(x, Dense(1)(base(x, training=False)))
    SeesTraining.seen.clear()
    outer(np.ones((1, 2)), training=True)
    outer(np.ones((1, 2)))
    direct = Model(x, SeesTraining()(x))
    direct(np.ones((1, 2)), training=True)
    assert SeesTraining.seen == [False, False, True]


def test_bad_constructor_arguments():  # Dense's own (units=0): test_dense.py
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Dense(2, dtype="int32")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['unit'\]"):
        Dense(2, unit=3)


def test_default_names_count_up_like_keras():
    a, b = Affine(), Affine()
    assert a.name.startswith("affine") and b.name != a.name


def test_a_frozen_parent_freezes_layers_it_gains_later():  # Sequential.add: test_sequential.py
    parent = Affine()
    parent.trainable = False
    parent.child = Dense(2)
    assert not parent.child.trainable


def test_reusing_a_built_layer_on_another_feature_size_fails_when_the_graph_is_built():
    dense = Dense(2, name="reused")
    dense(Input((3,)))
    with pytest.raises(ValueError, match=r'Input 0 of layer "reused" is incompatible with the '
                       r"layer: expected axis -1 of input shape to have value 3, but received "
                       r"input with shape \(None, 5\)"):
        dense(Input((5,)))
    conv = pyfrozen.layers.Conv2D(4, 3, name="conv_reused")
    conv(Input((8, 8, 3)))
    assert conv(Input((16, 16, 3))).shape == (None, 14, 14, 4)  # other sizes: fully conv
    with pytest.raises(ValueError, match='layer "conv_reused" is incompatible'):
        conv(Input((8, 8, 1)))


class Pauses(Layer):
    """Blocks inside its call until told to go on (to overlap two threads' calls)."""

    def __init__(self, inside: threading.Event, go_on: threading.Event) -> None:
        super().__init__()
        self.inside, self.go_on = inside, go_on

    def call(self, x, training=None):
        self.inside.set()
        self.go_on.wait(10)
        return x


def test_the_inherited_training_value_belongs_to_the_calling_thread():
    # The reproducer: while thread A is inside a(x, training=True), a plain b(x) in
    # thread B ran b's BatchNormalization on batch statistics and moved its moving
    # mean and variance.
    inside, go_on = threading.Event(), threading.Event()
    a = Sequential([Pauses(inside, go_on)])
    b = BatchNormalization()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    b(x)  # built; inference mode: (x - 0) / sqrt(1 + eps)
    worker = threading.Thread(target=lambda: a(x, training=True))
    worker.start()
    inside.wait(10)
    try:
        y = b(x).data
        SeesTraining()(x)  # inherits this thread's value: none
        seen = SeesTraining.seen[-1:]
    finally:
        go_on.set()
        worker.join(10)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    assert np.array_equal(b.moving_mean.data, np.zeros(4, np.float32))
    assert np.array_equal(b.moving_variance.data, np.ones(4, np.float32))
    assert seen == [None]


def test_default_names_stay_unique_when_threads_create_layers_at_once():
    names: list[str] = []
    start = threading.Barrier(4)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads inside unique_name, not only between calls

    def create():
        start.wait(10)
        names.extend(unique_name("threaded") for _ in range(20000))

    workers = [threading.Thread(target=create) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    sys.setswitchinterval(previous)
    assert len(names) == 80000 and len(set(names)) == 80000


# ---- caller-owned input arrays --------------------------------------------------------------


def gradients_after(layer, x, change=None):
    """The weights' gradients of sum(layer(x)), with ``change(x)`` run between forward and
    backward (a reused batch buffer refilled, a prefetching thread writing the next batch)."""
    for w in layer.trainable_weights:
        w.grad = None
    y = layer(x)
    if change is not None:
        change(x)
    y.backward(np.ones(y.shape, y.dtype))
    return [w.grad.data.copy() for w in layer.trainable_weights]


@pytest.mark.parametrize("make", [lambda: Dense(3), Affine])
def test_changing_the_input_array_after_forward_keeps_the_gradient(rng, make):
    # The op saves its input for the weight gradient; it used to be the caller's very array.
    x = rng.standard_normal((4, 5)).astype(np.float32)
    layer = make()
    expected = gradients_after(layer, x.copy())

    def refill(buffer):
        buffer[...] = rng.standard_normal(buffer.shape) * 50

    got = gradients_after(layer, x, refill)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_inputs_are_shared_without_recording_and_copied_while_recording(rng):
    from pyfrozen.layers.layer import to_tensor

    x = rng.standard_normal((4, 5)).astype(np.float32)
    with pyfrozen.no_grad():  # predict, inference: zero copy, nothing can keep the array
        assert np.shares_memory(to_tensor(x, "float32").data, x)
    assert not np.shares_memory(to_tensor(x, "float32").data, x)
    assert not np.shares_memory(to_tensor(x[1:3], "float32").data, x)  # a view is borrowed too
    assert to_tensor(x, "float64").dtype == np.float64  # a cast is a private array already
    t = pyfrozen.Tensor.from_numpy(x)  # the caller asked to share: their Tensor, kept as is
    assert to_tensor(t, "float32") is t


# ---- plain lists, dtypes, weight shapes -------------------------------------------------------


def test_a_nested_list_is_one_input_as_in_keras():
    layer = Dense(2)  # unbuilt: its kernel's shape comes from the list's last axis
    y = layer([[1.0, 2.0]])
    assert y.shape == (1, 2) and layer.kernel.shape == (2, 2)
    np.testing.assert_array_equal(y.data, layer(np.array([[1.0, 2.0]], np.float32)).data)
    assert Affine()([1, 2, 3]).shape == (3,)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_boolean_inputs_are_cast_like_float64(rng, dtype):
    # The same rule as models (and the labels of losses): this used to be a TypeError.
    layer = Dense(2)
    x = rng.integers(0, 2, (2, 4)).astype(dtype)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, layer(x.astype(np.float32)).data)


def test_a_weight_shape_that_is_not_whole_numbers_is_a_clear_error():
    class Bad(Layer):
        def build(self, input_shape):
            self.add_weight("kernel", (input_shape[-1], 2.5))

    with pytest.raises(ValueError, match=r"layer 'bad_layer': weight 'kernel' needs a shape of "
                       r"non-negative whole numbers, got \(3, 2\.5\)"):
        Bad(name="bad_layer")(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"got \(None, 2\)"):
        Affine(name="unknown_dim").add_weight("w", (None, 2))
    with pytest.raises(ValueError, match=r"got \(-1,\)"):
        Affine(name="negative").add_weight("w", (-1,))


def test_the_kept_weight_walk_sees_every_new_weight_and_layer():
    from pyfrozen.models import Sequential

    model = Sequential([pyfrozen.layers.Input((3,)), pyfrozen.layers.Dense(2)])
    every, states = model._weights_and_states()
    assert model._weights_and_states()[0] is every  # kept between steps
    model.add(pyfrozen.layers.Dense(4))
    assert len(model._weights_and_states()[0]) == 4
    model.add(pyfrozen.layers.BatchNormalization())
    assert len(model._weights_and_states()[1]) == 2  # the new moving statistics

    class Grows(pyfrozen.layers.Layer):
        def call(self, x):
            return x

    grows = Grows()
    holder = Sequential([pyfrozen.layers.Input((3,)), grows])
    assert holder._weights_and_states()[0] == []
    grows.add_weight("late", (3,), "ones")  # e.g. an adapter added after building
    assert [w.name for w in holder._weights_and_states()[0]] == ["late"]


def test_a_layer_with_its_own_weights_property_is_walked_every_time():
    class Custom(pyfrozen.layers.Layer):
        extra: list = []

        @property
        def weights(self):
            return list(self.extra)

        def call(self, x):
            return x

    custom = Custom()
    holder = pyfrozen.models.Sequential([pyfrozen.layers.Input((3,)), custom])
    assert holder._weights_and_states()[0] == []
    custom.extra = [pyfrozen.Parameter(np.ones(3, np.float32), name="w")]
    assert [w.name for w in holder._weights_and_states()[0]] == ["w"]
