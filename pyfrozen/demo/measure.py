"""Measuring the demo's runs: each in its own process, its epochs timed, its peak memory read.

Peak memory is the process's maximum resident set size (``ru_maxrss``), which only ever
rises: that is why every run gets a fresh process (``multiprocessing`` with ``spawn``; fork
is unsafe after OpenMP has run). The figure includes the interpreter, numpy, pyfrozen and
the data. ``grown`` is what ``fit`` itself added: the peak while it ran minus the resident
size when it started. On Linux the peak is reset as fit starts (``/proc/self/clear_refs``)
and read back from ``VmHWM``, so a larger peak before fit (building the data, loading the
model) is not counted as fit's; elsewhere ``grown`` is unknown.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyfrozen.callbacks import Callback

try:
    import resource
except ImportError:  # Windows: no getrusage; memory is reported as unknown
    resource = None  # type: ignore[assignment]


WAIT_POLICY = "OMP_WAIT_POLICY"


def peak_rss_bytes() -> int | None:
    """This process's peak resident set size so far, in bytes (None where unknown)."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # macOS: bytes


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes; None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class FitMemory:
    """The resident memory ``fit`` adds: the peak while it runs minus the size at its start.

    ``start()`` resets the kernel's peak (VmHWM) to the current size, ``stop()`` reads it;
    both return None where that cannot be done (the figure is then unknown, not guessed).
    """

    def __init__(self) -> None:
        self.before: int | None = None

    def start(self) -> None:
        self.before = None
        gc.collect()  # garbage freed by a collection during fit would hide what fit adds
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # Linux >= 4.0: the peak RSS drops to the current RSS
        except OSError:
            return
        self.before = _status_bytes("VmRSS")

    def stop(self) -> int | None:
        peak = _status_bytes("VmHWM")
        return None if self.before is None or peak is None else peak - self.before


@dataclass
class RunResult:
    """What one run measured, sent back from its process.

    Attributes:
        name: short key (``"source"``, ``"phase1"``, ...).
        title: what the run is, in words.
        history: ``fit``'s history (per-epoch loss, accuracy, val_accuracy...).
        epoch_seconds: wall time of each epoch (the first includes any feature caching).
        test_accuracy: accuracy on the run's test images.
        trainable, non_trainable: parameter counts from ``summary()``.
        peak_rss: the process's peak resident memory in bytes (None: unknown).
        fit_start_rss: the resident size when ``fit`` started (None: unknown).
        grown: the peak while ``fit`` ran minus ``fit_start_rss`` (None: unknown).
        checks: named yes/no facts the run verified (bit-identity...).
        notes: lines to print under the run.
    """

    name: str
    title: str
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    test_accuracy: float = float("nan")
    trainable: int = 0
    non_trainable: int = 0
    peak_rss: int | None = None
    fit_start_rss: int | None = None
    grown: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def steady_epoch_seconds(self) -> float:
        """Median epoch time without the first epoch (which may fill a feature cache)."""
        times = self.epoch_seconds[1:] or self.epoch_seconds
        return float(np.median(times)) if times else float("nan")


class EpochTimer(Callback):
    """Records the wall time of every epoch of ``fit``."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def snapshot(weights: list[Any]) -> list[bytes]:
    """The exact bytes of each weight's values (trainable or not, BN statistics too)."""
    return [np.ascontiguousarray(w.numpy()).tobytes() for w in weights]


def unchanged(before: list[bytes], weights: list[Any]) -> bool:
    """Whether every weight still holds exactly the bytes of ``before`` (no tolerance:
    a frozen weight must not move by one bit)."""
    return snapshot(weights) == before


def _child(target: Callable[..., RunResult], args: tuple, conn: Any) -> None:
    try:
        conn.send(("ok", target(*args)))
    except BaseException as error:  # sent back, re-raised in the parent
        import traceback

        conn.send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def in_own_process(target: Callable[..., RunResult], *args: Any) -> RunResult:
    """Runs ``target(*args)`` in a fresh process (spawn) and returns its result.

    The process gets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it: the demo's
    kernels are small, and OpenMP workers that spin between them take the other core
    from whatever else runs (on a busy 2-core machine a step took 50-74 ms with 2 spinning
    threads, 21 ms with 2 passive ones, 18 ms with 1).

    Raises:
        RuntimeError: the run failed (the message holds its traceback) or its process
            died without an answer.
    """
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(target, args, send))
    policy = os.environ.get(WAIT_POLICY)
    os.environ[WAIT_POLICY] = policy or "PASSIVE"  # the child inherits it at start
    try:
        process.start()
    finally:
        if policy is None:
            del os.environ[WAIT_POLICY]
    send.close()
    try:
        status, payload = receive.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the demo's run {target.__name__} died with exit code "
                           f"{process.exitcode} before reporting") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"the demo's run {target.__name__} failed:\n{payload}")
    return payload
