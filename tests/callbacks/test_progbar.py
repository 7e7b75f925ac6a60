"""The progress bar of fit(verbose=1/2) and evaluate: Keras's line, one per epoch in logs."""

from __future__ import annotations

import io
import re

import numpy as np

import pyfrozen
from pyfrozen.callbacks import Progbar


def _fit_output(capsys, verbose):
    model = pyfrozen.Sequential([pyfrozen.Input((3,)), pyfrozen.layers.Dense(2)])
    model.compile("sgd", loss="mse", metrics=["mae"])
    x = np.ones((20, 3), np.float32)
    model.fit(x, np.zeros((20, 2), np.float32), batch_size=4, epochs=2, verbose=verbose)
    return capsys.readouterr().out


def test_verbose_1_not_a_terminal_writes_one_line_per_epoch(capsys):
    lines = _fit_output(capsys, 1).splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"5/5 ━{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4}(e[+-]\d+)? "
                        r"- mae: \d\.\d{4}(e[+-]\d+)?", lines[1]), lines[1]
    assert "\x1b[" not in lines[1] and "\r" not in lines[1]  # plain text in a log


def test_verbose_2_writes_one_summary_line_per_epoch(capsys):
    lines = _fit_output(capsys, 2).splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2"
    assert re.fullmatch(r"5/5 - \d+s - \d+(us|ms|s)/step - loss: \S+ - mae: \S+", lines[1])


def test_verbose_0_is_silent_and_evaluate_prints_one_bar(capsys):
    assert _fit_output(capsys, 0) == ""
    model = pyfrozen.Sequential([pyfrozen.Input((3,)), pyfrozen.layers.Dense(2)])
    model.compile("sgd", loss="mse")
    model.evaluate(np.ones((6, 3)), np.zeros((6, 2)), batch_size=4, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("2/2 ━")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_line_is_redrawn_with_eta():
    stream = FakeTerminal()
    bar = Progbar(target=3, interval=0.0, stream=stream)
    bar.update(1, [("loss", 2.0)])
    bar.update(2, [("loss", 4.0)])  # averaged: 3.0
    bar.update(3, [("loss", 1.0)], finalize=True)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    redraws = text.split("\r")[1:]
    assert "loss: 3.0000" in redraws[1] and re.search(r"\x1b\[1m\d+s\x1b\[0m", redraws[1])
    assert "loss: 1.0000" in redraws[2]  # the final value is the epoch's, as given
    assert "\x1b[32m" in redraws[1]  # the done part of the bar in green


def test_unknown_target_counts_steps():
    stream = FakeTerminal()
    bar = Progbar(target=None, interval=0.0, stream=stream)
    bar.update(4, [("loss", 0.0001)])
    assert "      4/Unknown" in stream.getvalue() and "loss: 1.0000e-04" in stream.getvalue()
