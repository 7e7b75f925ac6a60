"""Shared fixtures. Tests import the *installed* pyfrozen (--import-mode=importlib,
no __init__.py here, and no conftest at the repo root), never the source tree."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import Function


@pytest.fixture(scope="session")
def editable_install() -> bool:
    """Whether pyfrozen is installed in editable mode (pip install -e .): its Python files
    are then the checkout's, its compiled files (next to ``_core``) in site-packages."""
    info = importlib.metadata.distribution("pyfrozen").read_text("direct_url.json") or "{}"
    return bool(json.loads(info).get("dir_info", {}).get("editable", False))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(params=pyfrozen.supported_isas())
def isa(request: pytest.FixtureRequest):
    """Runs the test once per instruction-set path this CPU has (generic always)."""
    before = pyfrozen.get_isa()
    pyfrozen.set_isa(request.param)
    yield request.param
    pyfrozen.set_isa(before)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request: pytest.FixtureRequest):
    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(request.param)
    yield request.param
    pyfrozen.set_num_threads(before)


def _required() -> bool:
    """CI (.ci/run) sets PYFROZEN_REQUIRE_TORCH=1: optional oracles must then be there."""
    return os.environ.get("PYFROZEN_REQUIRE_TORCH") == "1"


# Skips for a missing optional oracle start with this, so that the terminal summary can
# count them in one line instead of listing each test (see pytest_terminal_summary).
_ORACLE_SKIP = "optional oracle missing:"
_ORACLE_HOW = {"torch": "pip install torch==2.13.0", "h5py": "pip install h5py",
               "keras": "pip install keras",
               "mpi4py": 'pip install "pyfrozen[mpi]"',
               "onnx": 'pip install "pyfrozen[onnx]"', "onnxruntime": "pip install onnxruntime",
               "peer model files": "set PYFROZEN_PEER_FIXTURES to their folder",
               "tfjs": "npm install @tensorflow/tfjs@4.22.0, then set "
                       "PYFROZEN_TFJS_NODE_MODULES to its node_modules folder"}


def _optional_module(name: str):
    """``name`` imported; a skip for users without it, a failure when it is required."""
    if _required():
        return importlib.import_module(name)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:  # not installed; a broken install still errors
        pytest.skip(f"{_ORACLE_SKIP} {name} ({err})")


@pytest.fixture(scope="session")
def mpiexec() -> str:
    """The ``mpiexec`` of the MPI that mpi4py uses (the mpich wheel puts it next to the
    interpreter): skipped for users without ``pyfrozen[mpi]``, a failure in CI."""
    _optional_module("mpi4py")
    found = Path(sys.executable).parent / "mpiexec"
    path = str(found) if found.exists() else shutil.which("mpiexec")
    if path is None:
        raise RuntimeError("mpi4py is installed but no mpiexec was found next to the "
                           f"interpreter ({found}) or on PATH")
    return path


@pytest.fixture(scope="session")
def torch():
    """PyTorch as an optional oracle: skipped for users without it, but a failure
    when PYFROZEN_REQUIRE_TORCH=1 (set by .ci/run), so CI never skips silently."""
    return _optional_module("torch")


@pytest.fixture(scope="session")
def h5py():
    """h5py, to read Keras 3 weight files: optional like ``torch``, required in CI."""
    return _optional_module("h5py")


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend, the API-parity oracle: optional like ``torch``,
    required in CI (.ci/run installs it)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return _optional_module("keras")


@pytest.fixture(scope="session")
def onnx():
    """The onnx package, which ``export(format="onnx")`` needs: optional like ``torch``,
    required in CI (.ci/run installs it)."""
    return _optional_module("onnx")


@pytest.fixture(scope="session")
def onnxruntime():
    """onnxruntime, the oracle that runs exported ONNX files: optional like ``torch``,
    required in CI (.ci/run installs it)."""
    return _optional_module("onnxruntime")


# Model files written by Keras 3 and TensorFlow.js themselves (their README says how):
# $PYFROZEN_PEER_FIXTURES, else a copy under tests/data/peers, else the shared folder.
_PEER_FIXTURE_DIRS = [Path(__file__).parent / "data" / "peers"]  # copied from shared/fixtures


@pytest.fixture(scope="session")
def peer_fixtures() -> Path:
    """The folder holding keras3/ and tfjs/ (skipped when absent, a failure in CI)."""
    override = os.environ.get("PYFROZEN_PEER_FIXTURES")
    candidates = [Path(override)] if override else _PEER_FIXTURE_DIRS
    for folder in candidates:
        if (folder / "keras3").is_dir() and (folder / "tfjs").is_dir():
            return folder
    message = f"peer model files not found in {[str(c) for c in candidates]}"
    if _required():
        pytest.fail(message)
    pytest.skip(f"{_ORACLE_SKIP} peer model files (not found in "
                f"{', '.join(str(c) for c in candidates)})")


class _Cube:
    """User-defined ops for testing the test tools: x**3, a wrong gradient, a wrong dtype."""

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return (3 * x * x * dy,)

    class WrongCube(Cube):
        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return (3.01 * x * x * dy,)

    class Float64Grad(Cube):
        """Right values, but the float32 gradient comes back as float64."""

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            return ((3 * x * x * dy).astype(np.float64),)


@pytest.fixture(scope="session")
def cube_ops() -> type:
    """Cube / WrongCube / Float64Grad: ops with a known, a wrong, a wrong-dtype gradient."""
    return _Cube


def _oracle_name(report: pytest.TestReport) -> str | None:
    """The missing oracle a skip report is about (torch, h5py, ...), else None."""
    longrepr = report.longrepr
    if not (isinstance(longrepr, tuple) and len(longrepr) == 3):
        return None
    reason = str(longrepr[2]).removeprefix("Skipped: ")
    if not reason.startswith(_ORACLE_SKIP):
        return None
    rest = reason[len(_ORACLE_SKIP):].strip()
    return "peer model files" if rest.startswith("peer model files") else rest.split()[0]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per missing oracle instead of one ``-ra`` line per skipped test.

    pytest prints its short summary (``-ra``) inside this wrapper's yield: the oracle
    skips are taken out of the list it reads, then put back so the closing counts
    ("N passed, M skipped") still include them.
    """
    skipped = terminalreporter.stats.get("skipped", [])
    oracle = [r for r in skipped if _oracle_name(r)]
    if oracle:
        terminalreporter.stats["skipped"] = [r for r in skipped if not _oracle_name(r)]
    try:
        return (yield)
    finally:
        if oracle:
            terminalreporter.stats["skipped"] = skipped
            counts: dict[str, int] = {}
            for report in oracle:
                counts[_oracle_name(report)] = counts.get(_oracle_name(report), 0) + 1
            for name, count in counts.items():
                how = _ORACLE_HOW.get(name, "see tests/conftest.py")
                terminalreporter.write_line(
                    f"SKIPPED [{count}] tests needing the optional oracle {name}, which is "
                    f"missing ({how} to run them; with PYFROZEN_REQUIRE_TORCH=1, as in CI, "
                    f"a missing oracle fails)", yellow=True)
