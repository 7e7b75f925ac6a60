"""comm.py without a running MPI job: what a user without mpi4py is told, and that
``import pyfrozen`` never loads it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyfrozen.distributed import DataParallel


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r'pip install "pyfrozen\[mpi\]"'):
        DataParallel()


def test_importing_pyfrozen_does_not_import_mpi4py():
    code = "import sys, pyfrozen; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/")
    assert out.stdout.strip() == "False"
