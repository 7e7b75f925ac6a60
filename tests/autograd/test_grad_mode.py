"""Recording switches: no_grad, enable_grad, inference_mode, name_scope."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace


def leaf(values, **kw):
    return pyfrozen.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, **kw)


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with pyfrozen.no_grad():
        y = x * 2.0
        with pyfrozen.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.grad_fn is None and z.grad_fn == "mul"

    @pyfrozen.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad and pyfrozen.autograd.is_grad_enabled()
    with pyfrozen.inference_mode():
        assert not (x * 1.0).requires_grad


def test_modes_restore_the_setting_when_reentered():
    @pyfrozen.no_grad()
    def recurse(n):
        if n:
            recurse(n - 1)

    recurse(2)  # the decorator enters the same no_grad instance three times
    assert pyfrozen.autograd.is_grad_enabled()
    scope = pyfrozen.autograd.name_scope("outer")
    with scope, scope:
        pass
    x = leaf([1.0])
    with trace() as t:
        (x * 2.0).backward()
    assert {k.layer for k in t.kernels} == {"mul"}  # not left in the "outer" scope



def test_an_exception_inside_a_mode_restores_the_setting():
    with pytest.raises(ValueError, match="boom"), pyfrozen.no_grad():
        raise ValueError("boom")
    assert pyfrozen.autograd.is_grad_enabled()
    with pyfrozen.no_grad():
        with pytest.raises(ValueError, match="boom"), pyfrozen.enable_grad():
            raise ValueError("boom")
        assert not pyfrozen.autograd.is_grad_enabled()


def test_enable_grad_and_inference_mode_as_decorators():
    x = leaf([2.0])

    @pyfrozen.enable_grad()
    def recorded(t):
        return t * 3.0

    @pyfrozen.inference_mode()
    def unrecorded(t):
        return t * 3.0

    with pyfrozen.no_grad():
        y = recorded(x)
    assert y.requires_grad and y.grad_fn == "mul"
    assert not unrecorded(x).requires_grad and pyfrozen.autograd.is_grad_enabled()


def test_name_scope_labels_the_kernels_recorded_inside():
    x = leaf([1.0, 2.0])
    with trace() as t:
        with pyfrozen.autograd.name_scope("stem"):
            y = x * 2.0
        (y + 1.0).backward(np.ones(2))
    assert {k.layer for k in t.kernels if k.op == "mul"} == {"stem"}
    assert {k.layer for k in t.kernels if k.op == "add"} == {"add"}
