"""The installed package: where it comes from, its version, entry points, docs."""

from __future__ import annotations

import doctest
import importlib
import importlib.machinery
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyfrozen
from pyfrozen import _core

REPO = Path(__file__).resolve().parents[1]


def test_imported_from_the_installed_copy_not_the_checkout(editable_install):
    package = Path(pyfrozen.__file__).resolve().parent
    compiled = Path(_core.__file__).resolve().parent
    # The venv may live inside the clone (CI's .venv): compare with the source folder.
    assert compiled != (REPO / "pyfrozen").resolve()
    if editable_install:  # pip install -e .: the checkout's Python, compiled files installed
        assert package == (REPO / "pyfrozen").resolve()
        assert importlib.import_module("pyfrozen.autograd.tape").__file__.endswith(".so")
    else:
        assert package != (REPO / "pyfrozen").resolve() and compiled == package


def test_importing_a_source_folder_says_what_happened(tmp_path):
    # What a fresh clone has: the package's Python files, no compiled module.
    shutil.copytree(REPO / "pyfrozen", tmp_path / "pyfrozen",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    # -S: no site-packages, whose editable-install hook (if any) would find the checkout.
    proc = subprocess.run([sys.executable, "-S", "-c", "import pyfrozen"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "circular import" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: pyfrozen was imported from {tmp_path / 'pyfrozen'}, "
                           "a source folder without the compiled core"), proc.stderr
    assert "Run Python from another directory" in last and "pip install -e ." in last


def test_top_level_names_of_keras_3():
    """``import pyfrozen as keras`` finds what a Keras script uses at the top level."""
    keras_names = {"Input", "Model", "Sequential", "layers", "optimizers", "losses", "metrics",
                   "callbacks", "applications", "initializers"}
    assert keras_names <= set(pyfrozen.__all__)
    assert all(getattr(pyfrozen, name) is not None for name in pyfrozen.__all__)
    assert pyfrozen.Model is pyfrozen.models.Model and pyfrozen.Input is pyfrozen.layers.Input


def test_versions_agree():
    assert pyfrozen.__version__ == _core.version()


def test_core_library_sits_next_to_the_extension():
    pkg = Path(_core.__file__).parent
    assert (pkg / "libpyfrozen_core.so").is_file()
    assert (pkg / "include" / "pyfrozen" / "gemm.hpp").is_file()
    assert (pkg / "lib" / "cmake" / "pyfrozen" / "pyfrozenConfig.cmake").is_file()


def test_cmake_dir_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pyfrozen", "--cmake-dir"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert (Path(out) / "pyfrozenConfig.cmake").is_file()


def _documented_modules() -> list[str]:
    """Every module of the installed package, except compiled ones without examples (the
    Cython tape keeps its examples in tape.py) and shared libraries that are no module."""
    names = ["pyfrozen"]
    for info in pkgutil.walk_packages(pyfrozen.__path__, prefix="pyfrozen."):
        origin = importlib.util.find_spec(info.name).origin
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # libpyfrozen_core.so: the C++ core, not a Python module
                continue
            if not any(test.examples for test in _FINDER.find(module)):
                continue
        names.append(info.name)
    return names


_FINDER = doctest.DocTestFinder(exclude_empty=True)
DOCUMENTED = _documented_modules()


@pytest.mark.parametrize("name", DOCUMENTED)
def test_docstring_examples(name):
    """Runs the examples in one module's docstrings; a failure shows doctest's report."""
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    failed = sum(runner.run(test, out=report.append).failed for test in _FINDER.find(module))
    assert failed == 0, "".join(report)


def test_docstring_walk_reaches_the_subpackages():
    """A folder without __init__.py, or a failing walk, would hide its examples."""
    assert {"pyfrozen.ops.conv", "pyfrozen.ops.spatial", "pyfrozen.io.weights",
            "pyfrozen.datasets.digits", "pyfrozen.initializers"} <= set(DOCUMENTED)
