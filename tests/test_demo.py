"""The demo (``pyfrozen demo``): run in quick mode as a user would, its printed claims checked
against what it measured, and its flags and fallbacks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pyfrozen.demo import DemoConfig, main, plot, runs
from pyfrozen.demo.measure import in_own_process
from pyfrozen.demo.network import mobilenet_like

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _pyfrozen(*args: str, cwd: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    # Outside the checkout, as a user would run it.
    return subprocess.run([sys.executable, "-m", "pyfrozen", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick demo run: (stdout, results.json as a dict, out folder)."""
    cwd = tmp_path_factory.mktemp("demo")
    proc = _pyfrozen("demo", "--quick", "--threads", "1", "--seed", "3", "--out", "result",
                     cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = cwd / "result"
    return proc.stdout, json.loads((out / "results.json").read_text()), out


def test_frozen_weights_and_bn_statistics_stay_bit_identical(quick_run):
    stdout, results, _ = quick_run
    phase1, phase2 = results["runs"]["phase1"], results["runs"]["phase2"]
    assert phase1["checks"] == {"base bit-identical": True}
    assert results["runs"]["full"]["checks"] == {"BN statistics bit-identical": True}
    assert phase2["checks"] == {"frozen bit-identical": True,
                                "BN statistics bit-identical": True,
                                "every trainable weight moved": True}
    assert "bit-identical after phase 1: yes" in stdout
    assert "bit-identical after phase 2: yes" in stdout


def test_counts_match_the_network(quick_run):
    _, results, _ = quick_run
    r = results["runs"]
    head = 192 * 10 + 10  # the digits head on the 192 pooled features
    # Phase 1 trains the head only; everything else is the (frozen) base.
    assert r["phase1"]["trainable"] == head
    base = r["scratch"]["trainable"] + r["scratch"]["non_trainable"] - head
    assert r["phase1"]["non_trainable"] == base
    # Same CNN with 26 outputs for the letters: all trainable but the BN statistics.
    letters = mobilenet_like(26, "letters")
    moving = sum(w.size for w in letters.weights
                 if w.name in ("moving_mean", "moving_variance"))
    assert r["source"]["trainable"] == base + 192 * 26 + 26 - moving
    assert r["source"]["non_trainable"] == moving == r["scratch"]["non_trainable"]
    # Phase 2: blocks 3-5's convolutions join the head; BN (gamma/beta too) stays frozen.
    unfrozen = sum(w.size for b in (3, 4, 5) for kind in ("dw", "pw")
                   for w in letters.get_layer(f"conv_{kind}_{b}").weights)
    assert r["phase2"]["trainable"] == head + unfrozen
    # Full fine-tuning: every convolution and the head; BN (gamma/beta too) stays frozen.
    kernels = sum(w.size for w in letters.weights if w.name.endswith("kernel")) - 192 * 26
    assert r["full"]["trainable"] == head + kernels
    assert r["linear"]["trainable"] == 24 * 24 * 10 + 10


def test_every_run_learned(quick_run):
    _, results, _ = quick_run
    for name, run in results["runs"].items():
        loss = run["history"]["loss"]
        assert loss[-1] < loss[0], name
        assert len(run["epoch_seconds"]) == len(loss) and min(run["epoch_seconds"]) > 0
    r = results["runs"]
    assert r["source"]["test_accuracy"] > 3 / 26  # chance: 1/26
    assert r["phase1"]["test_accuracy"] > 0.2  # chance: 0.1


def test_memory_and_time_are_measured_per_run(quick_run):
    _, results, _ = quick_run
    r = results["runs"]
    for run in r.values():
        assert run["peak_rss"] > 20 * 2**20 and run["grown"] >= 0
    # Cached features: a phase-1 epoch does far less than one of full fine-tuning.
    assert r["phase1"]["epoch_seconds"][-1] * 3 < r["full"]["epoch_seconds"][-1]
    assert r["phase1"]["grown"] < r["full"]["grown"]


def test_the_traced_steps_show_what_freezing_skipped(quick_run):
    stdout, results, _ = quick_run
    frozen, full = results["steps"]
    assert frozen["weight_grad_layers"] == ["digits_head"]
    assert "conv1" in frozen["forward_only_layers"]
    assert "conv1" in full["weight_grad_layers"] and len(full["weight_grad_layers"]) == 23
    assert frozen["saved_bytes"] * 50 < full["saved_bytes"]
    assert frozen["backward_kernels"] * 10 < full["backward_kernels"]
    assert f"{full['saved_bytes'] / 1024:,.0f} KiB kept for backward" in stdout


def test_files_written_and_reported(quick_run):
    stdout, results, out = quick_run
    assert (out / "letters.keras").is_file() and (out / "phase1.safetensors").is_file()
    if HAS_MATPLOTLIB:
        png = out / "demo.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        assert f"written to {Path(results['png'])}" in stdout
    else:
        assert "matplotlib is not installed" in stdout and results["png"] is None
    assert "QUICK mode" in stdout and "Epoch 1/2" in stdout  # the source run's progress bar


def test_printed_summary_matches_the_numbers(quick_run):
    stdout, results, _ = quick_run
    r = results["runs"]
    p1, scratch = r["phase1"]["test_accuracy"], r["scratch"]["test_accuracy"]
    assert f"phase 1 vs scratch: {p1 - scratch:+.3f} accuracy" in stdout
    for run in r.values():
        assert f"test accuracy: {run['test_accuracy']:.3f}" in stdout
        assert f"{run['trainable']:,} trainable, {run['non_trainable']:,} non-trainable" in stdout


def test_plot_skipped_without_matplotlib_or_with_no_plot(monkeypatch, capsys, tmp_path):
    config = DemoConfig(out=tmp_path)
    assert main._plot(replace(config, plot=False), {}) is None
    assert "skipped (--no-plot)" in capsys.readouterr().out
    monkeypatch.setattr(plot, "matplotlib_missing", lambda: "No module named 'matplotlib'")
    assert main._plot(config, {}) is None
    assert "pip install 'pyfrozen[plot]'" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_a_failing_run_raises_with_its_traceback(tmp_path):
    # Phase 1 needs the source run's weight file, which this folder lacks.
    with pytest.raises(RuntimeError, match=r"phase1_run failed:(.|\n)*letters\.keras"):
        in_own_process(runs.phase1_run, DemoConfig(out=tmp_path).quickened())


def test_flags_have_help_and_check_their_values(tmp_path):
    proc = _pyfrozen("demo", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--seed", "--epochs N", "--threads N", "--out DIR", "--quick", "--no-plot"):
        assert flag in proc.stdout, flag
    (tmp_path / "a_file").write_text("")
    for args, message in [(["--seed", "-1"], "must be in 0..2147483647, got -1"),
                          (["--epochs", "0"], "must be at least 1, got 0"),
                          (["--out", "a_file"], "'a_file' exists and is not a folder")]:
        bad = _pyfrozen("demo", *args, cwd=tmp_path)
        assert bad.returncode == 2 and message in bad.stderr


def test_python_dash_m_pyfrozen_demo_is_the_same_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyfrozen.demo", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _pyfrozen("demo", "--help", cwd=tmp_path).stdout


def test_target_split_is_balanced_disjoint_and_seeded():
    from pyfrozen.demo.data import source_task, target_task

    t = target_task(seed=0, shots=30, val_per_class=50)
    assert (len(t.x_train), len(t.x_val), len(t.x_test)) == (300, 500, 3200)
    assert t.x_train.dtype.name == "float32" and t.x_train.shape[1:] == (24, 24, 1)
    assert 0.0 <= t.x_train.min() and t.x_train.max() <= 1.0
    for y, n in ((t.y_train, 30), (t.y_val, 50), (t.y_test, 320)):
        assert sorted(set(y.tolist())) == list(range(10)) and (y == 0).sum() == n
    parts = [{row.tobytes() for row in x} for x in (t.x_train, t.x_val, t.x_test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    again, other = target_task(0, 30, 50), target_task(1, 30, 50)
    assert (again.x_train == t.x_train).all() and not (other.x_train == t.x_train).all()
    s = source_task(seed=0, per_class=100)
    assert (len(s.x_train), len(s.x_test), len(s.x_val)) == (26 * 60, 26 * 40, 0)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_the_saved_source_model_is_a_keras_3_file(quick_run, keras):
    # The demo saves its source network with model.save; Keras 3 itself reads the file and
    # predicts what pyfrozen's loader predicts.
    import numpy as np

    import pyfrozen
    from pyfrozen.demo.data import source_task

    path = str(quick_run[2] / "letters.keras")
    ours = pyfrozen.saving.load_model(path)
    theirs = keras.saving.load_model(path)
    x = source_task(3, 48).x_test[:16]
    expected = ours.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, atol=1e-5)
    assert expected.shape == (16, 26) and expected.std() > 0.01


FIT_MEMORY_SCRIPT = """
import numpy as np
from pyfrozen.demo.measure import FitMemory

before = np.ones(96 * 2**20 // 8)  # 96 MiB resident, then freed
del before
memory = FitMemory()
memory.start()
if memory.before is None:
    raise SystemExit("no /proc/self/clear_refs")
idle = memory.stop()
# 64 MiB: above glibc's largest mmap threshold (32 MiB), so fresh pages, never freed heap
# memory that is still resident.
during = np.ones(64 * 2**20 // 8)
print(idle, memory.stop())
"""


def test_fit_memory_counts_only_what_came_after_its_start(tmp_path):
    # A larger transient peak before start() (building data, loading a model) must not be
    # reported as fit's; memory touched after it must be. In a fresh process: memory that
    # the suite's other tests free meanwhile would lower the resident size under it.
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs")  # reported as unknown, not guessed
    proc = subprocess.run([sys.executable, "-c", FIT_MEMORY_SCRIPT], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    idle, grown = map(int, proc.stdout.split())
    assert idle < 8 * 2**20
    assert 64 * 2**20 <= grown < 80 * 2**20
