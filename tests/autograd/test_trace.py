"""trace(): kernels by layer and pass, saved bytes, the printed table."""

from __future__ import annotations

import numpy as np

import pyfrozen
from pyfrozen import Parameter
from pyfrozen.autograd import name_scope, trace


def _dense_pair(frozen_first: bool):
    rng = np.random.default_rng(0)
    x = pyfrozen.tensor(rng.standard_normal((8, 16)))
    w1 = Parameter(rng.standard_normal((16, 32)), trainable=not frozen_first)
    w2 = Parameter(rng.standard_normal((32, 4)))
    with trace() as t:
        with name_scope("dense_1"):
            h = pyfrozen.ops.dense(x, w1, activation="relu")
        with name_scope("dense_2"):
            y = pyfrozen.ops.dense(h, w2)
        y.backward(np.ones((8, 4)))
    return t, w1, w2


def test_frozen_bottom_layer_runs_only_its_forward():
    t, w1, w2 = _dense_pair(frozen_first=True)
    assert {(r.kernel, r.pass_) for r in t.ran(layer="dense_1")} == {
        ("dense", "forward"), ("bias_act", "forward")}
    assert {r.pass_ for r in t.ran(layer="dense_2")} == {
        "forward", "backward_weight"}  # no input gradient: nothing below needs it
    assert w1.grad is None and w2.grad is not None
    assert t.nodes == 1 and t.by_layer() == {"dense_2": 8 * 32 * 8}  # only h is kept


def test_trainable_stack_runs_every_needed_pass():
    t, _, _ = _dense_pair(frozen_first=False)
    assert {r.pass_ for r in t.ran(layer="dense_2")} == {
        "forward", "backward_input", "backward_weight"}
    assert {r.pass_ for r in t.ran(layer="dense_1", kernel="dense")} == {
        "forward", "backward_weight"}  # x is data: no backward_input for it
    assert t.by_layer() == {"dense_1": 8 * 16 * 8 + 8 * 32 * 8, "dense_2": 8 * 32 * 8}
    # h is saved by dense_1 (its output, for relu) and dense_2 (its input): once in total.
    assert t.saved_bytes == 8 * 16 * 8 + 8 * 32 * 8


def test_table_lists_records_and_bytes():
    t, _, _ = _dense_pair(frozen_first=True)
    text = str(t)
    assert text.splitlines()[0].split() == ["layer", "op", "kernel", "pass", "calls", "work"]
    assert ["dense_2", "dense", "dense", "backward_weight", "1", "1024"] in [
        line.split() for line in text.splitlines()]
    assert "saved for backward: 2,048 bytes in 1 nodes" in text
    assert t.layers() == ["dense_1", "dense_2"]


def test_numpy_ops_are_recorded_by_name_and_parameters_are_not_saved_bytes():
    w = Parameter(np.ones(3))
    x = pyfrozen.tensor(np.ones(3))
    with trace() as t:
        y = x * w  # saves x (for w's gradient), not w
        y.backward(np.ones(3))
    assert [(r.op, r.pass_) for r in t.kernels] == [("mul", "forward"), ("mul", "backward_weight")]
    assert t.saved_bytes == 24
