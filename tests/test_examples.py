"""Every example in examples/ runs in quick mode and prints what it claims.

Each runs in its own process, as a user would run it (the script's folder first on the
path, so the installed pyfrozen is imported), and the test reads its printed claims:
frozen weights unchanged, the counts, that the run learned.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def run_example(script: Path, *args: str, cwd: Path, env: dict | None = None) -> str:
    proc = subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1).replace(",", ""))


TESTED = {"keras_port", "tfjs_roundtrip", "progressive_unfreezing", "multitask",
          "distillation", "partial_freezing", "lora", "distributed_transfer"}


def test_every_example_has_a_test_a_docstring_and_public_imports_only():
    import ast

    scripts = sorted(EXAMPLES.glob("*.py"))
    assert {p.stem for p in scripts} == TESTED
    for script in scripts:
        tree = ast.parse(script.read_text())
        assert ast.get_docstring(tree), f"{script.name}: no module docstring"
        for node in ast.walk(tree):  # no private module, name or attribute of pyfrozen
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyfrozen"):
                names = [node.module, *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            else:
                continue
            private = [n for n in names for part in n.split(".")
                       if part.startswith("_") and not part.startswith("__")]
            assert not private, f"{script.name}:{node.lineno} uses private {private}"


def test_every_example_explains_its_flags(tmp_path):
    for name in sorted(TESTED):
        out = run_example(EXAMPLES / f"{name}.py", "--help", cwd=tmp_path)
        assert "--quick" in out and "--seed" in out, (name, out)


# --- keras_port.py --------------------------------------------------------------------------

def check_keras_port(out: str, learned: bool) -> None:
    assert "phase 1: base weights and BN statistics bit-identical: True" in out, out
    # Only the top block's convolutions train in phase 2: its BN and every lower layer stay.
    assert "phase 2: base layers whose weights changed: ['conv_dw_13', 'conv_pw_13']" in out
    assert number(r"base frozen\): ([\d,]+) of", out) == 771  # the head: 256 * 3 + 3
    assert number(r"top block unfrozen\): ([\d,]+)", out) == 771 + 3 * 3 * 256 + 256 * 256
    if learned:
        assert number(r"source task: test accuracy ([\d.]+)", out) > 0.35, out
        assert number(r"phase 1: test accuracy ([\d.]+)", out) > 0.5, out
        assert number(r"phase 2: test accuracy ([\d.]+)", out) > 0.5, out


def test_keras_port(tmp_path):
    out = run_example(EXAMPLES / "keras_port.py", "--quick", "--out", str(tmp_path),
                      cwd=tmp_path)
    check_keras_port(out, learned=True)
    assert (tmp_path / "transfer.weights.h5").stat().st_size > 0


def test_keras_port_runs_unchanged_under_keras_3(tmp_path, keras):
    # The same file with only the import lines swapped; smaller still, since Keras on the
    # torch backend is several times slower here: the freezing claims are checked, the
    # accuracy (chance-level after so few steps) is not.
    source = (EXAMPLES / "keras_port.py").read_text()
    swapped = source.replace("import pyfrozen as keras\n", "import keras\n").replace(
        "from pyfrozen import layers\n", "from keras import layers\n")
    assert "import pyfrozen" not in swapped and "from pyfrozen" not in swapped
    script = tmp_path / "keras_port_keras3.py"
    script.write_text(swapped)
    out = run_example(script, "--quick", "--epochs", "1", "--samples", "64", "--out",
                      str(tmp_path), cwd=tmp_path, env={"KERAS_BACKEND": "torch"})
    check_keras_port(out, learned=False)
    assert (tmp_path / "transfer.weights.h5").stat().st_size > 0


# --- tfjs_roundtrip.py ----------------------------------------------------------------------

def test_tfjs_roundtrip(tmp_path, peer_fixtures):
    model_json = peer_fixtures / "tfjs" / "small_cnn" / "model.json"
    out = run_example(EXAMPLES / "tfjs_roundtrip.py", str(model_json), "--quick", "--out",
                      str(tmp_path), cwd=tmp_path)
    assert number(r"tfjs's recorded predictions = ([\d.e+-]+)", out) < 1e-5
    # 245 trainable of 629: what TensorFlow.js itself counted with the same layers frozen
    counts = json.loads((model_json.parent / "io.json").read_text())["counts_frozen"]
    assert number(r"\]: ([\d,]+) of [\d,]+ parameters train", out) == counts[1]
    assert number(r"of ([\d,]+) parameters train", out) == counts[0]
    assert "frozen weights and BN statistics bit-identical: True" in out
    assert number(r"test accuracy [\d.]+ -> ([\d.]+)", out) > 0.4  # chance: 0.2
    assert number(r"reloaded, max \|difference\| = ([\d.e+-]+)", out) == 0.0
    assert (tmp_path / "tfjs" / "model.json").is_file()
    assert (tmp_path / "model.onnx").stat().st_size > 0
    if "onnxruntime is not installed" in out:
        assert os.environ.get("PYFROZEN_REQUIRE_TORCH") != "1", "CI must run the ONNX check"
    else:
        assert number(r"max \|onnx - pyfrozen\| = ([\d.e+-]+)", out) < 1e-5


# --- progressive_unfreezing.py --------------------------------------------------------------

def test_progressive_unfreezing(tmp_path):
    out = run_example(EXAMPLES / "progressive_unfreezing.py", "--quick", cwd=tmp_path)
    moved = {}
    for line in out.splitlines():
        if line.startswith("epoch "):
            epoch = int(line.split(":")[0].split()[1])
            moved[epoch] = {b: number(rf"{b} ([\d.e+-]+)", line)
                            for b in ("block3", "block2", "block1")}
    assert sorted(moved) == [1, 2, 3, 4], out
    # The schedule: epoch 1 the head alone, then one more block (top first) per epoch...
    for epoch, training in {1: [], 2: ["block3"], 3: ["block3", "block2"],
                            4: ["block3", "block2", "block1"]}.items():
        assert [b for b, m in moved[epoch].items() if m > 0] == training, (epoch, out)
    # ...and each block at its own rate (Adam's steps scale with the rate): 0.3x and 0.1x.
    assert 0.15 < moved[3]["block2"] / moved[3]["block3"] < 0.6, moved
    assert 0.05 < moved[4]["block1"] / moved[4]["block3"] < 0.3, moved
    assert moved[4]["block1"] < moved[4]["block2"] < moved[4]["block3"], moved
    assert "lr multipliers {'block3_*': 1.0, 'block2_*': 0.3, 'block1_*': 0.1}" in out
    assert "BatchNormalization weights and statistics bit-identical: True" in out
    assert number(r"source task: test accuracy ([\d.]+)", out) > 0.4  # chance 0.25
    assert number(r"target task: test accuracy ([\d.]+)", out) > 0.6  # chance 0.33


# --- multitask.py ---------------------------------------------------------------------------

def test_multitask(tmp_path):
    out = run_example(EXAMPLES / "multitask.py", "--quick", cwd=tmp_path)
    # The trunk's two convolutions run once per step for both heads, twice with a model
    # per head; the frozen trunk is neither differentiated nor saved for backward.
    assert number(r"both heads: trunk convolutions run (\d+)", out) == 2
    assert number(r"a model per head: trunk convolutions run (\d+)", out) == 4
    assert number(r"trunk backward kernel calls (\d+)", out) == 0
    saved_by = re.search(r"bytes, by (\[.*\])", out).group(1)
    assert "kind" in saved_by and "size" in saved_by and "trunk" not in saved_by, out
    assert "frozen trunk bit-identical after training: True" in out
    first, last = number(r"loss ([\d.]+) ->", out), number(r"loss [\d.]+ -> ([\d.]+)", out)
    assert last < 0.7 * first, out
    assert number(r"kind accuracy ([\d.]+)", out) > 0.55  # chance 0.33
    assert number(r"size R\^2 ([\d.-]+)", out) > 0.1  # 0: no better than the mean


# --- distillation.py ------------------------------------------------------------------------

def test_distillation(tmp_path):
    out = run_example(EXAMPLES / "distillation.py", "--quick", cwd=tmp_path)
    # The teacher ran (forward kernels) but nothing of it was differentiated or recorded.
    assert number(r"teacher kernels forward (\d+)", out) >= 5  # 2 convs, 2 BN, dense...
    assert number(r"teacher kernels forward \d+, backward (\d+)", out) == 0
    assert "teacher layers on the tape []" in out
    assert "s_conv" in re.search(r"nodes recorded, by (\[.*\])", out).group(1)
    assert "teacher weights and BN statistics bit-identical: True" in out
    assert number(r"teacher: [\d,]+ parameters, test accuracy ([\d.]+)", out) > 0.6
    soft0 = number(r"distillation ([\d.]+) ->", out)
    assert number(r"distillation [\d.]+ -> ([\d.]+)", out) < 0.5 * soft0
    assert number(r"student: test accuracy ([\d.]+)", out) > 0.5  # chance 0.2
    assert number(r"agrees with the teacher on ([\d.]+)", out) > 0.5


# --- partial_freezing.py --------------------------------------------------------------------

def test_partial_freezing(tmp_path):
    out = run_example(EXAMPLES / "partial_freezing.py", "--quick", "--train-channels", "8",
                      cwd=tmp_path)
    assert "conv2: 8 of 32 output channels train" in out
    masked = number(r"work per step: ([\d,]+) with the mask", out)
    full = number(r"with the mask, ([\d,]+) without", out)
    assert masked * 4 == full, out  # only 8 of 32 channels' weight gradients computed
    assert number(r"forward work ([\d,]+) either way", out) == full
    assert "conv1 (a frozen layer, at the bottom) kernels run: {'forward': " in out
    assert "frozen channels (kernel and bias) bit-identical: True" in out
    assert "trainable channels' kernel weights changed: 100%" in out
    assert number(r"loss [\d.]+ -> ([\d.]+)", out) < 0.5 * number(r"loss ([\d.]+) ->", out)
    assert number(r"test accuracy ([\d.]+)", out) > 0.6  # chance 0.33


def test_lora(tmp_path):
    out = run_example(EXAMPLES / "lora.py", "--quick", "--out", str(tmp_path), cwd=tmp_path)
    trainable = number(r"trainable parameters: ([\d,]+)", out)
    adapters = number(r"\(([\d,]+) in the adapters A/B", out)
    # rank 4: conv 3x3x3x4 + 4x16, dw 3x3x4 + 4x16x1, pw 16x4 + 4x32, features 32x4 + 4x32
    assert adapters == 108 + 64 + 36 + 64 + 64 + 128 + 128 + 128
    assert trainable == adapters + 16 + 16 + 32 + 32 + 32 * 3 + 3  # biases, the new head
    assert number(r"Adam state: ([\d,]+) floats", out) == 2 * trainable
    frozen = 3 * 3 * 3 * 16 + 3 * 3 * 16 + 16 * 32 + 32 * 32
    assert number(r"frozen kernels: ([\d,]+)", out) == frozen
    assert number(r"weight-gradient work per step: [\d,]+ with LoRA rank 4, [\d,]+ with the "
                  r"kernels training \(([\d.]+)x\)", out) < 0.6
    assert "frozen kernels bit-identical after fit: True" in out
    assert ("predict: ops run per adapted layer: {'conv': ['conv2d'], 'dw': "
            "['depthwise_conv2d'], 'pw': ['conv2d'], 'features': ['dense']}") in out
    # Keras's way: the adapters of conv, pw and features again (4 weights each), dw plain.
    assert number(r"\.keras reloaded: (\d+) weights", out) == 3 * 4 + 2
    assert "adapters on ['conv', 'pw', 'features']" in out
    assert number(r"\.keras reloaded: .* max \|difference\| = ([\d.e+-]+)", out) < 1e-5
    assert number(r"merge_lora: (\d+) weights left", out) == 10
    assert number(r"merge_lora: .* max \|difference\| = ([\d.e+-]+)", out) < 1e-5
    assert number(r"tfjs export reloaded: max \|difference\| = ([\d.e+-]+)", out) < 1e-5
    assert number(r"source task: test accuracy ([\d.]+)", out) > 0.4  # chance 0.25
    assert number(r"target task: .* test accuracy ([\d.]+)", out) > 0.6  # chance 0.33
    assert (tmp_path / "lora.keras").stat().st_size > 0


# --- distributed_transfer.py ----------------------------------------------------------------

def test_distributed_transfer_under_mpiexec(tmp_path, mpiexec):
    script = EXAMPLES / "distributed_transfer.py"
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script), "--out",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "ranks: 2, global batch 64" in out
    assert out.count("Epoch 1/8") == 2  # rank 0 alone prints, once per phase
    # the whole network (224,276 bytes of float32 weights), then the head's 64 x 5 + 5
    assert number(r"all trainable\): bytes per step ([\d,]+)", out) == 224_276
    assert number(r"base frozen\): bytes per step ([\d,]+)", out) == (64 * 5 + 5) * 4
    assert "frozen base bit-identical after phase 2: True" in out
    assert "all ranks hold bit-identical weights: True" in out
    assert number(r"source test accuracy ([\d.]+)", out) > 0.8  # chance 0.2
    assert number(r"target test accuracy ([\d.]+)", out) > 0.4
    assert out.count("weights written by rank 0") == 1
    assert (tmp_path / "transfer.safetensors").exists()
