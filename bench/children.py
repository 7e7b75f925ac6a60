"""Measurements in fresh processes: a benchmark script re-run as a child printing JSON.

``ru_maxrss`` only rises and glibc adapts its thresholds to what ran before, so each
configuration's time and peak memory are taken in a process of its own (traps.md). The
child prints one JSON object as its last stdout line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from memory import ALLOCATOR_MODES


def run_json(script: str, args: Sequence[str], mode: str = "default",
             env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``python SCRIPT ARGS`` with allocator ``mode``'s environment; its last JSON line.

    Same interpreter, affinity and working directory; a failing child raises with its
    stderr so a broken configuration is never reported as a figure.
    """
    if mode not in ALLOCATOR_MODES:
        raise ValueError(f"allocator mode {mode!r}: expected one of {sorted(ALLOCATOR_MODES)}")
    full_env = {**os.environ, **ALLOCATOR_MODES[mode], **(env or {})}
    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          env=full_env)
    if proc.returncode != 0:
        raise RuntimeError(f"child {os.path.basename(script)} {' '.join(args)} "
                           f"({mode}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
