"""The element-wise, loss and pooling bindings cannot crash the process: their
hypothesis fuzz runs in a child process, so a segfault is a failed test with output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUZZ = Path(__file__).with_name("fuzz_elementwise_calls.py")


def test_fuzzed_calls_never_crash(tmp_path):
    cmd = [sys.executable, "-m", "pytest", str(FUZZ), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "-o", "addopts=", "-W", "error"]
    # cwd outside the checkout, so the installed pyfrozen is imported, not the sources.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"fuzz exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "3 passed" in proc.stdout
