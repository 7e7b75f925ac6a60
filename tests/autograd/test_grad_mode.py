"""Recording switches: no_grad, enable_grad, inference_mode, name_scope."""

from __future__ import annotations

import threading

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


# --- per thread (as PyTorch): one thread's no_grad never switches another's recording ------


def in_thread(fn, *args):
    """Runs ``fn(*args)`` in a new thread; returns its result or raises its exception."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as error:  # re-raised in the calling thread
            box["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_a_new_thread_starts_with_recording_on():
    x = leaf([1.0])
    with pyfrozen.no_grad():
        assert in_thread(lambda: (x * 2.0).requires_grad)
        assert not (x * 2.0).requires_grad
    with pyfrozen.no_grad():
        in_thread(pyfrozen.autograd.tape.set_grad_enabled, False)  # left off in the worker
        with pyfrozen.enable_grad():
            in_thread(lambda: pyfrozen.no_grad().__enter__())
            assert pyfrozen.autograd.is_grad_enabled()
        assert not pyfrozen.autograd.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_leave_recording_on():
    # The reproducer: A enters, B enters, A leaves, B leaves. With one process-wide flag
    # B restored A's "off" and every later training step raised.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def thread_b():
        a_in.wait(10)
        with pyfrozen.no_grad():
            b_in.set()
            a_out.wait(10)
        return pyfrozen.autograd.is_grad_enabled()

    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("b", thread_b()))
    worker.start()
    with pyfrozen.no_grad():
        a_in.set()
        b_in.wait(10)
    a_out.set()
    worker.join(10)
    assert box["b"] is True and pyfrozen.autograd.is_grad_enabled()
    x = leaf([3.0])
    (x * x).backward()
    assert x.grad.data[0] == 6.0


def test_one_decorated_function_run_by_two_threads_at_once_restores_each():
    # ContextDecorator enters the same no_grad instance from both threads: the saved
    # settings are kept per thread, not on one shared stack.
    inside, release = threading.Barrier(2), threading.Event()

    @pyfrozen.no_grad()
    def blocked():
        inside.wait(10)
        release.wait(10)
        return pyfrozen.autograd.is_grad_enabled()

    box = {}

    def worker_body():
        with pyfrozen.no_grad():  # this thread enters with recording off
            box["inside"] = blocked()
            box["after"] = pyfrozen.autograd.is_grad_enabled()

    worker = threading.Thread(target=worker_body)
    worker.start()
    threading.Timer(0.2, release.set).start()
    assert blocked() is False
    worker.join(10)
    assert pyfrozen.autograd.is_grad_enabled()  # this thread entered with recording on
    assert box == {"inside": False, "after": False}


def test_layer_scopes_and_traces_are_per_thread():
    x = leaf([1.0, 2.0])
    entered, done = threading.Event(), threading.Event()

    def other_thread():
        entered.wait(10)
        y = x * 2.0  # recorded while the main thread is inside scope "stem" and a trace
        done.set()
        return y._node.scope, pyfrozen.autograd.tape.is_tracing()

    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", other_thread()))
    worker.start()
    with trace() as t, pyfrozen.autograd.name_scope("stem"):
        entered.set()
        done.wait(10)
        z = x * 3.0
    worker.join(10)
    assert box["r"] == (None, False)
    assert z._node.scope == "stem" and t.nodes == 1


def test_a_trace_never_counts_kernels_another_thread_runs():
    x = pyfrozen.tensor(np.ones((64, 64), np.float32))
    w = pyfrozen.Parameter(np.ones((64, 64), np.float32))
    stop = threading.Event()

    def busy():  # dense kernels from another thread during the whole trace
        while not stop.is_set():
            pyfrozen.ops.matmul(x, w).backward(np.ones((64, 64), np.float32))

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        a = leaf([1.0, 2.0])
        with trace() as t:
            for _ in range(200):
                (a * 2.0).backward(np.ones(2))
    finally:
        stop.set()
        worker.join(10)
    assert {k.op for k in t.kernels} == {"mul"}
