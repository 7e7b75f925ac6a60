"""The optimizer contract (optimizer.py): masked elements bit-identical under every
optimizer with weight decay, momentum and clipping; state only for weights that
trained, kept while frozen, steps counted per weight; Keras's apply / apply_gradients,
iterations, learning_rate, None gradients and errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops, optimizers
from pyfrozen.optimizers import schedules

SPECIAL = np.array([-0.0, 1e-40, -3e-39, 1e-45, -0.0, 2.5, -1e-41], np.float32)

# Every optimizer with weight decay and momentum where it has one.
CONFIGS = {
    "sgd_momentum_wd": lambda **c: optimizers.SGD(0.05, momentum=0.9, weight_decay=0.1, **c),
    "sgd_nesterov_wd": lambda **c: optimizers.SGD(0.05, momentum=0.8, nesterov=True,
                                                  weight_decay=0.1, **c),
    "adam_wd": lambda **c: optimizers.Adam(0.01, weight_decay=0.1, **c),
    "adam_amsgrad_wd": lambda **c: optimizers.Adam(0.01, amsgrad=True, weight_decay=0.1, **c),
    "adamw": lambda **c: optimizers.AdamW(0.01, weight_decay=0.05, **c),
    "rmsprop_all_wd": lambda **c: optimizers.RMSprop(0.01, momentum=0.5, centered=True,
                                                     weight_decay=0.02, **c),
}
CLIPPING = {"none": {}, "clipnorm": {"clipnorm": 0.05}, "clipvalue": {"clipvalue": 0.01},
            "global_clipnorm": {"global_clipnorm": 0.05}}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


class Problem:
    """Dense layer with an element-masked kernel holding -0.0 and denormals where frozen,
    a second trainable weight, and a frozen third one (trainable=False)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.mask = rng.uniform(size=(5, 4)) < 0.4
        self.mask[0, 0], self.mask[-1, -1] = True, False
        kernel = (rng.standard_normal((5, 4)) * 0.5).astype(np.float32)
        kernel[self.mask] = np.resize(SPECIAL, int(self.mask.sum()))
        self.kernel = pyfrozen.Parameter(kernel, name="kernel", freeze_mask=self.mask)
        self.bias = pyfrozen.Parameter(np.zeros(4, np.float32), name="bias")
        self.frozen = pyfrozen.Parameter(np.ones(4, np.float32), name="frozen", trainable=False)
        self.x = rng.standard_normal((8, 5)).astype(np.float32)
        self.y = rng.standard_normal((8, 4)).astype(np.float32)

    @property
    def weights(self) -> list[pyfrozen.Parameter]:
        return [self.kernel, self.bias, self.frozen]

    def grads(self) -> list:
        for w in self.weights:
            w.grad = None
        y = ops.dense(self.x, self.kernel, self.bias, activation="tanh") * self.frozen
        ops.mean_squared_error(y, self.y).backward()
        return [w.grad for w in self.weights]


@pytest.mark.parametrize("clip", list(CLIPPING))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_masked_elements_and_frozen_weights_never_move(rng, config, clip):
    problem = Problem(rng)
    opt = CONFIGS[config](**CLIPPING[clip])
    kernel0, frozen0 = problem.kernel.data.copy(), problem.frozen.data.copy()
    for _ in range(15):
        grads = problem.grads()
        assert np.all(bits(grads[0].data)[problem.mask] == 0)  # the tape's frozen grads: +0.0
        opt.apply(grads, problem.weights)
        np.testing.assert_array_equal(bits(problem.kernel.data)[problem.mask],
                                      bits(kernel0)[problem.mask])
    assert np.all(problem.kernel.data[~problem.mask] != kernel0[~problem.mask])
    np.testing.assert_array_equal(bits(problem.frozen.data), bits(frozen0))
    assert opt.state_of(problem.frozen) is None
    state = opt.state_of(problem.kernel)
    assert state["step"] == 15 and opt.iterations == 15
    for name, slot in state.items():
        if name != "step":  # slots start at +0.0 and stay so where frozen
            assert np.all(bits(slot)[problem.mask] == 0), name
            assert np.any(slot[~problem.mask] != 0), name


@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm"])
def test_garbage_in_frozen_gradient_elements_changes_nothing(rng, clip):
    """Hand-made gradients may hold anything where frozen (NaN, huge): the trainable
    elements get exactly what they get with zeros there, frozen ones do not move."""
    results = []
    for fill in (0.0, np.nan, 1e30):
        problem = Problem(np.random.default_rng(3))
        opt = optimizers.Adam(0.01, weight_decay=0.1, **CLIPPING[clip])
        for _ in range(3):
            grads = [g.data.copy() for g in problem.grads()[:2]]
            grads[0][problem.mask] = fill
            opt.apply(grads, problem.weights[:2])
        results.append(problem.kernel.data.copy())
    for other in results[1:]:
        np.testing.assert_array_equal(bits(other), bits(results[0]))


def _count(opt: optimizers.Optimizer) -> int:
    return sum(v.size for v in opt.variables)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_no_state_for_weights_that_never_trained(rng, config):
    problem = Problem(rng)
    opt = CONFIGS[config]()
    extra = pyfrozen.Parameter(np.ones((100, 10), np.float32), name="never", trainable=False)
    opt.apply(problem.grads() + [np.ones((100, 10), np.float32)], problem.weights + [extra])
    slots = len(opt.state_of(problem.kernel)) - 1
    # iteration + learning rate + slots of kernel (20) and bias (4); nothing for the rest
    assert len(opt.variables) == 2 + 2 * slots
    assert _count(opt) == 2 + slots * (20 + 4)
    assert opt.state_of(extra) is None and opt.state_of(problem.frozen) is None


def test_state_is_kept_while_frozen_and_steps_count_per_weight(rng):
    problem = Problem(rng)
    opt = optimizers.Adam(0.01)
    for _ in range(3):
        opt.apply(problem.grads(), problem.weights)
    problem.bias.trainable = False
    m = opt.state_of(problem.bias)["momentum"].copy()
    for _ in range(4):
        opt.apply(problem.grads(), problem.weights)
    assert opt.state_of(problem.bias)["step"] == 3
    np.testing.assert_array_equal(opt.state_of(problem.bias)["momentum"], m)
    problem.bias.trainable = True
    opt.apply(problem.grads(), problem.weights)
    assert opt.state_of(problem.bias)["step"] == 4 and opt.state_of(problem.kernel)["step"] == 8
    assert opt.iterations == 8


@pytest.mark.parametrize("kind", [optimizers.Adam, optimizers.AdamW])
def test_adam_first_update_of_a_weight_unfrozen_late_is_a_first_step(rng, kind):
    """Unfrozen after 5,000 steps of the others, a weight moves exactly as it would at
    the first step of a fresh optimizer (Keras's global count would make it ~3x larger)."""
    head = pyfrozen.Parameter(rng.standard_normal(3), name="head")
    late = pyfrozen.Parameter(rng.standard_normal(4), name="late", trainable=False)
    opt = kind(learning_rate=1e-3)
    for _ in range(5000):
        opt.apply([np.full(3, 0.5), np.full(4, 9.0)], [head, late])
    assert opt.iterations == 5000 and opt.state_of(late) is None
    late.trainable = True
    fresh = pyfrozen.Parameter(late.data.copy(), name="fresh")
    grad = rng.standard_normal(4)
    before = late.data.copy()
    opt.apply([np.full(3, 0.5), grad], [head, late])
    kind(learning_rate=1e-3).apply([grad], [fresh])
    np.testing.assert_array_equal(late.data, fresh.data)
    decay = 1e-3 * opt.weight_decay if opt.weight_decay else 0.0
    step = before * (1 - decay) - late.data
    np.testing.assert_allclose(np.abs(step), 1e-3, rtol=1e-3)  # m/sqrt(v) = sign(g)


def test_apply_gradients_takes_pairs_tensors_arrays_and_other_dtypes():
    w = pyfrozen.Parameter(np.array([1.0, 2.0], np.float32), name="w")
    opt = optimizers.SGD(learning_rate=0.5)
    assert opt.apply_gradients(zip([pyfrozen.tensor([1.0, 1.0])], [w], strict=True)) == 1
    opt.apply([np.array([1.0, 0.0])], [w])  # float64 gradient: cast as Keras
    opt.apply([[0, 2]], [w])  # a nested list of ints
    np.testing.assert_allclose(w.data, [0.0, 0.5])
    assert w.dtype == np.float32 and opt.iterations == 3
    opt.apply([np.array([2.0, 2.0], np.float32)])  # built: variables may be left out
    np.testing.assert_allclose(w.data, [-1.0, -0.5])


def test_none_gradients_follow_keras():
    a = pyfrozen.Parameter(np.ones(2), name="a")
    b = pyfrozen.Parameter(np.ones(2), name="b")
    frozen = pyfrozen.Parameter(np.ones(2), name="frozen", trainable=False)
    opt = optimizers.SGD(0.1)
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['b'\]"):
        opt.apply([np.ones(2), None, None], [a, b, frozen])
    np.testing.assert_allclose(a.data, 0.9)
    opt.apply([np.ones(2), None], [a, frozen])  # a frozen weight's None: no warning
    with pytest.raises(ValueError, match="No gradients provided for any variable."):
        opt.apply([None, None], [a, b])
    opt.apply([None], [frozen])  # only frozen weights: nothing to do, no error
    opt.apply([], [])
    assert opt.iterations == 3


def test_bad_calls_raise_clear_errors_before_anything_changes():
    w = pyfrozen.Parameter(np.ones((2, 3)), name="kernel")
    v = pyfrozen.Parameter(np.ones(3), name="bias")
    opt = optimizers.SGD(0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"gradient of shape \(3, 2\) for weight 'kernel' of "
                                         r"shape \(2, 3\)"):
        opt.apply([np.ones((3, 2))], [w])
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) for weight 'bias'"):
        opt.apply([np.ones((2, 3)), np.ones(2)], [w, v])
    np.testing.assert_array_equal(w.data, 1.0)  # the first pair was not applied either
    assert opt.state_of(w) is None and opt.iterations == 0
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        opt.apply([np.ones((2, 3)), np.ones(3)], [w])
    with pytest.raises(TypeError, match="updates Parameters .* received a ndarray"):
        opt.apply([np.ones(3)], [np.ones(3)])
    with pytest.raises(TypeError, match="gradient of weight 'bias' has dtype <U1"):
        opt.apply([np.array(["a", "b", "c"])], [v])
    with pytest.raises(ValueError, match="optimizer must already be built"):
        optimizers.Adam().apply([np.ones(3)])


def test_constructor_arguments_are_checked_as_keras():
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'lr': 0.1\}"):
        optimizers.SGD(lr=0.1)
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and "
                                         "`global_clipnorm` can be set"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"`learning_rate` must be a float >= 0. "
                                         r"Received: learning_rate=-0.1"):
        optimizers.SGD(learning_rate=-0.1)
    with pytest.raises(ValueError, match="Argument `learning_rate` should be float, or an "
                                         "instance of LearningRateSchedule"):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match=r"`weight_decay` must be a float >= 0. "
                                         r"Received: weight_decay=-1"):
        optimizers.RMSprop(weight_decay=-1)
    with pytest.raises(ValueError, match=r"`clipnorm` must be a float >= 0. Received: "
                                         r"clipnorm=nan"):
        optimizers.SGD(clipnorm=float("nan"))
    with pytest.raises(NotImplementedError, match="use_ema"):
        optimizers.SGD(use_ema=True)
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be an integer"):
        optimizers.SGD(gradient_accumulation_steps=1)
    with pytest.warns(UserWarning, match="Argument `decay` is no longer supported"):
        optimizers.SGD(decay=0.1)


def test_learning_rate_is_readable_and_settable():
    opt = optimizers.SGD(learning_rate=0.1)
    assert opt.learning_rate == 0.1
    assert optimizers.SGD(np.float32(0.5), momentum=np.int64(0)).learning_rate == 0.5
    assert optimizers.SGD(1).learning_rate == 1.0  # an int (Keras wants a float)
    opt.learning_rate = 0.05
    assert opt.learning_rate == 0.05 and opt.get_config()["learning_rate"] == 0.05
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        opt.learning_rate = -1
    w = pyfrozen.Parameter(np.zeros(1), name="w")
    opt.apply([np.ones(1)], [w])
    np.testing.assert_allclose(w.data, -0.05)
    scheduled = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([1], [1.0, 0.5]))
    with pytest.raises(TypeError, match="its learning rate is not settable"):
        scheduled.learning_rate = 0.1
    steps = []
    for _ in range(4):
        steps.append(scheduled.learning_rate)
        scheduled.apply([np.ones(1)], [w])
    assert steps == [1.0, 1.0, 0.5, 0.5]  # evaluated at iterations 0, 1, 2, 3
    bad = optimizers.SGD(learning_rate=lambda: -1.0)
    with pytest.raises(ValueError, match="learning rate at iteration 0 is -1.0"):
        bad.apply([np.ones(1)], [w])


def test_exclude_from_weight_decay_by_name_and_by_weight():
    kernel = pyfrozen.Parameter(np.ones(2), name="kernel")
    bias = pyfrozen.Parameter(np.ones(2), name="bias")
    gamma = pyfrozen.Parameter(np.ones(2), name="gamma")
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[gamma], var_names=["bias"])
    opt.apply([np.zeros(2)] * 3, [kernel, bias, gamma])
    np.testing.assert_allclose(kernel.data, 0.95)
    np.testing.assert_array_equal(bias.data, 1.0)
    np.testing.assert_array_equal(gamma.data, 1.0)


def test_loss_scale_factor_divides_the_gradients():
    w = pyfrozen.Parameter(np.zeros(2), name="w")
    opt = optimizers.SGD(learning_rate=1.0, loss_scale_factor=4.0)
    assert opt.scale_loss(3.0) == 12.0
    opt.apply([np.array([4.0, 8.0])], [w])
    np.testing.assert_allclose(w.data, [-1.0, -2.0])
