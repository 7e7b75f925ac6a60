"""The installed package: where it comes from, its version, entry points, docs."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pyfrozen
from pyfrozen import _core

REPO = Path(__file__).resolve().parents[1]


def test_imported_from_the_installed_copy_not_the_checkout():
    # The venv may live inside the clone (CI's .venv): compare with the source folder.
    assert Path(pyfrozen.__file__).resolve().parent != (REPO / "pyfrozen").resolve()
    assert Path(_core.__file__).resolve().parent == Path(pyfrozen.__file__).resolve().parent


def test_versions_agree():
    assert pyfrozen.__version__ == _core.version()


def test_core_library_sits_next_to_the_extension():
    pkg = Path(pyfrozen.__file__).parent
    assert (pkg / "libpyfrozen_core.so").is_file()
    assert (pkg / "include" / "pyfrozen" / "gemm.hpp").is_file()
    assert (pkg / "lib" / "cmake" / "pyfrozen" / "pyfrozenConfig.cmake").is_file()


def test_cmake_dir_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pyfrozen", "--cmake-dir"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert (Path(out) / "pyfrozenConfig.cmake").is_file()


def test_demo_runs_and_converges(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyfrozen", "demo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    last_loss = float(proc.stdout.split("loss")[-1].split()[0])
    assert last_loss < 1e-4


def test_docstring_examples():
    attempted = 0
    for module in (pyfrozen, _core):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
        attempted += result.attempted
    assert attempted > 0
