"""tests/conftest.py: tests whose optional oracle is missing are summed up in one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

ORACLE_TESTS = '''
import pytest

@pytest.mark.parametrize("n", [1, 2])
def test_against_torch(torch, n):
    assert torch

def test_also_torch(torch):
    assert torch

def test_keras_file(h5py):
    assert h5py

def test_needs_nothing():
    assert True

def test_skipped_for_its_own_reason():
    pytest.skip("a reason of its own")
'''


def _pytest_without_oracles(folder: Path, **env_overrides: str) -> subprocess.CompletedProcess:
    """pytest -ra on ORACLE_TESTS with the project's conftest, torch and h5py unimportable."""
    shutil.copy(TESTS / "conftest.py", folder / "conftest.py")
    (folder / "test_oracles.py").write_text(ORACLE_TESTS)
    for name in ("torch", "h5py"):  # found first: python -m pytest puts the cwd on sys.path
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r} (hidden by the test)")\n')
    env = {k: v for k, v in os.environ.items() if k != "PYFROZEN_REQUIRE_TORCH"}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider",
                           "test_oracles.py"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)


def test_missing_oracles_are_summed_up_in_one_line_each(tmp_path):
    proc = _pytest_without_oracles(tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "could not import" not in out and "hidden by the test" not in out
    skip_lines = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 3, out
    torch_line = next(line for line in skip_lines if "oracle torch" in line)
    assert torch_line.startswith("SKIPPED [3] ") and "pip install torch==" in torch_line
    assert "PYFROZEN_REQUIRE_TORCH=1" in torch_line
    assert any(line.startswith("SKIPPED [1] ") and "oracle h5py" in line for line in skip_lines)
    # Other skips are listed as before, and the closing counts still include every skip.
    assert any("a reason of its own" in line for line in skip_lines)
    assert re.search(r"\b1 passed, 5 skipped\b", out.splitlines()[-1]), out


def test_a_missing_oracle_fails_when_required(tmp_path):
    proc = _pytest_without_oracles(tmp_path, PYFROZEN_REQUIRE_TORCH="1")
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.count("hidden by the test") >= 4, proc.stdout  # the ImportError itself
    assert re.search(r"\b1 passed, 1 skipped, 4 errors\b", proc.stdout.splitlines()[-1]), \
        proc.stdout
