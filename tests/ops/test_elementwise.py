"""Elementwise ops: add, sub, mul, div, neg, pow, exp, log, sqrt, cast."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.testing import check_op

SHAPE_PAIRS = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((3,), ()), ((), ())]


def _away_from_zero(rng, shape, low=0.5, high=2.0):
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


# ---------------------------------------------------------------------------------------
# add, sub, mul, div, neg
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_ops_against_torch(name, shapes, rng, torch):
    a = rng.standard_normal(shapes[0])
    b = _away_from_zero(rng, shapes[1])  # div: the divisor stays away from 0
    fn = getattr(ops, name)
    torch_fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[name]
    check_op(fn, a, b, torch_fn=torch_fn)


def test_operators_dispatch_with_python_numbers(rng, torch):
    x = _away_from_zero(rng, (2, 3))

    def f(t):  # the same code runs on pyfrozen and torch tensors
        return (2.0 - t) * 3 + t / 4.0 - 1 / t + (-t) + 0.5 * t - t - 1.5

    check_op(f, x, torch_fn=f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_numbers_take_the_tensor_dtype(dtype):
    x = pyfrozen.tensor(np.ones(3, dtype))
    for y in (x + 1.5, 2 - x, x * 3, 1.0 / x, x ** 2, 2.0 ** x, -x):
        assert y.dtype == dtype


def test_neg(rng, torch):
    check_op(ops.neg, rng.standard_normal((2, 3)), torch_fn=torch.neg)


def test_add_and_sub_save_nothing(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    for fn in (ops.add, ops.sub):
        report = check_op(fn, a, b)
        assert all(tr.saved_bytes == 0 for tr in report.traces.values())


def test_mul_saves_only_the_other_operand(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    report = check_op(ops.mul, a, b)
    assert report.traces[()].saved_bytes == a.nbytes + b.nbytes
    assert report.traces[(1,)].saved_bytes == b.nbytes  # b frozen: da = dy * b
    assert report.traces[(0,)].saved_bytes == a.nbytes  # a frozen: db = dy * a


def test_div_saves_by_need(rng):
    a, b = rng.standard_normal((2, 3)), _away_from_zero(rng, (3,))
    report = check_op(ops.div, a, b)
    out = 6 * 8
    assert report.traces[(1,)].saved_bytes == b.nbytes  # da = dy / b
    assert report.traces[(0,)].saved_bytes == b.nbytes + out  # db = -dy * y / b
    assert report.traces[()].saved_bytes == b.nbytes + out


# ---------------------------------------------------------------------------------------
# pow
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [2, 3.0, 0.5, -1.5, 0])
def test_tensor_to_a_number(exponent, rng, torch):
    x = rng.uniform(0.5, 2.0, (2, 3))
    report = check_op(lambda t: t ** exponent, x, torch_fn=lambda t: t ** exponent)
    # The exponent is a 0-d constant: saved with the base (8 bytes), no output.
    assert report.traces[()].saved_bytes == x.nbytes + 8


def test_negative_base_to_an_integer(rng, torch):
    x = _away_from_zero(rng, (2, 3))
    check_op(lambda t: t ** 3, x, torch_fn=lambda t: t ** 3)
    check_op(lambda t: ops.pow(t, -2.0), x, torch_fn=lambda t: t ** -2.0)


@pytest.mark.parametrize("base", [2.0, 0.5])
def test_number_to_a_tensor(base, rng, torch):
    x = rng.standard_normal((2, 3))
    report = check_op(lambda t: base ** t, x, torch_fn=lambda t: base ** t)
    assert report.traces[()].saved_bytes == 8 + x.nbytes  # the 0-d base and the output


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_tensor_to_a_tensor(shapes, rng, torch):
    a = rng.uniform(0.5, 2.0, shapes[0])
    b = rng.standard_normal(shapes[1])
    report = check_op(ops.pow, a, b, torch_fn=torch.pow)
    out = np.broadcast_shapes(*shapes)
    out_bytes = int(np.prod(out)) * 8
    assert report.traces[(1,)].saved_bytes == a.nbytes + b.nbytes  # base's grad: a, b
    assert report.traces[(0,)].saved_bytes == a.nbytes + out_bytes  # exponent's: a, y


def test_pow_at_a_zero_base_matches_torch(torch):
    a = np.array([0.0, 0.0, 0.0, 1.5])
    b = np.array([0.0, 1.0, 2.5, 2.0])
    x, e = pyfrozen.tensor(a, requires_grad=True), pyfrozen.tensor(b, requires_grad=True)
    (x ** e).backward(np.ones(4))
    tx = torch.tensor(a, requires_grad=True)
    te = torch.tensor(b, requires_grad=True)
    (tx ** te).backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(e.grad.numpy(), te.grad.numpy(), rtol=1e-12)
    assert e.grad.numpy()[:3].tolist() == [0.0, 0.0, 0.0]


def test_pow_exponent_gradient_refuses_a_negative_base():
    base = pyfrozen.tensor(np.array([1.0, -2.0]))
    exponent = pyfrozen.tensor(np.array([2.0, 2.0]), requires_grad=True)
    with pytest.raises(ValueError, match=r"pow: .*exponent \(2,\).*base \(2,\).*negative"):
        base ** exponent
    with pytest.raises(ValueError, match="negative"):
        (-2.0) ** exponent
    with pyfrozen.no_grad():  # no gradient wanted: numpy's value
        assert (base ** exponent).numpy().tolist() == [1.0, 4.0]


# ---------------------------------------------------------------------------------------
# exp, log, sqrt
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (2, 3, 2), ()], ids=str)
def test_exp(shape, rng, torch):
    x = rng.standard_normal(shape)
    report = check_op(ops.exp, x, torch_fn=torch.exp)
    assert report.traces[()].saved_bytes == x.nbytes  # the output only


@pytest.mark.parametrize("shape", [(5,), (2, 3, 2)], ids=str)
def test_log(shape, rng, torch):
    x = rng.uniform(0.2, 3.0, shape)
    report = check_op(ops.log, x, torch_fn=torch.log)
    assert report.traces[()].saved_bytes == x.nbytes  # the input only


@pytest.mark.parametrize("shape", [(5,), (2, 3, 2)], ids=str)
def test_sqrt(shape, rng, torch):
    x = rng.uniform(0.2, 3.0, shape)
    report = check_op(ops.sqrt, x, torch_fn=torch.sqrt)
    assert report.traces[()].saved_bytes == x.nbytes  # the output only


def test_method_forms(rng, torch):
    x = rng.uniform(0.5, 2.0, (2, 3))
    check_op(lambda t: t.exp() + t.log() * t.sqrt(), x,
             torch_fn=lambda t: t.exp() + t.log() * t.sqrt())


# ---------------------------------------------------------------------------------------
# cast
# ---------------------------------------------------------------------------------------


def test_cast_round_trip(rng):
    x = rng.standard_normal((2, 3))
    # Finite differences through float32 need a step far above its resolution.
    check_op(lambda t: ops.cast(t, np.float32).astype(np.float64) * 2.0, x,
             eps=1e-2, atol=1e-4, rtol=1e-4)


def test_cast_gradient_takes_the_source_dtype():
    x = pyfrozen.tensor(np.ones(3, np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn == "cast"
    y.backward(np.full(3, 2.0))
    assert x.grad.dtype == np.float32 and x.grad.numpy().tolist() == [2.0, 2.0, 2.0]


def test_cast_of_an_integer_tensor_records_nothing():
    y = ops.cast(pyfrozen.tensor(np.arange(3)), "float32")
    assert y.dtype == np.float32 and y.grad_fn is None and not y.requires_grad


def test_cast_refuses_other_targets():
    with pytest.raises(TypeError, match="cast: target dtype int32"):
        ops.cast(pyfrozen.tensor([1.0]), np.int32)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_shape_mismatch_names_both_shapes(name):
    a = pyfrozen.tensor(np.ones((2, 3)))
    b = pyfrozen.tensor(np.ones(4))
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) do not broadcast"):
        getattr(ops, name)(a, b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_float32_and_float64_never_mix(name):
    a = pyfrozen.tensor(np.ones((2, 3), np.float32))
    b = pyfrozen.tensor(np.ones(3, np.float64))
    with pytest.raises(TypeError, match=r"float32 \(2, 3\), float64 \(3,\)"):
        getattr(ops, name)(a, b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_integer_tensors_are_refused(name):
    a = pyfrozen.tensor(np.arange(3))
    b = pyfrozen.tensor(np.ones(3))
    with pytest.raises(TypeError, match=f"{name}: needs float operands, got int64"):
        getattr(ops, name)(a, b)


@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt"])
def test_unary_ops_refuse_integers_and_non_tensors(name):
    fn = getattr(ops, name)
    with pytest.raises(TypeError, match=rf"{name}: input must be float32 or float64, got int64"):
        fn(pyfrozen.tensor(np.arange(3)))
    with pytest.raises(TypeError, match=f"{name}: input must be a Tensor, got list"):
        fn([1.0, 2.0])


def test_unsupported_operand_type():
    with pytest.raises(TypeError, match="add: unsupported operand type str"):
        ops.add(pyfrozen.tensor([1.0]), "1")
    with pytest.raises(TypeError, match="mul: needs a Tensor operand, got float and int"):
        ops.mul(2.0, 3)


def test_binary_ops_accept_numpy_arrays():
    y = ops.add(np.ones(2, np.float32), np.ones(2, np.float32))
    assert isinstance(y, pyfrozen.Tensor) and y.numpy().tolist() == [2.0, 2.0]
    assert ops.sub(np.ones(2), 0.5).numpy().tolist() == [0.5, 0.5]  # the number: float64


def test_unary_ops_accept_numpy_arrays():
    y = ops.exp(np.zeros(2, np.float32))
    assert isinstance(y, pyfrozen.Tensor) and y.numpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_two_float_tensors_skip_the_python_operand_checks(name, monkeypatch):
    """The tape's C check (tape.apply_binary) takes two Tensors of one float dtype; any
    other operands go through float_operands, which converts them or raises."""
    from pyfrozen.ops import elementwise

    calls = []
    checked = elementwise.float_operands
    monkeypatch.setattr(elementwise, "float_operands",
                        lambda *args: calls.append(args[2]) or checked(*args))
    fn = getattr(ops, name)
    a = pyfrozen.tensor(np.full(3, 2.0, np.float32), requires_grad=True)
    want = {"add": 3.0, "sub": 1.0, "mul": 2.0, "div": 2.0}[name]
    y = fn(a, pyfrozen.tensor(np.ones(3, np.float32)))
    assert calls == [] and y.requires_grad and np.all(y.numpy() == want)
    assert np.all(fn(a, 1.0).numpy() == want) and calls == [name]  # a number: converted
    with pytest.raises(TypeError, match="different float dtypes"):
        fn(a, pyfrozen.tensor(np.ones(3)))  # float64: the tape's own message, via the check
    assert calls == [name, name]
