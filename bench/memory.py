"""Memory of a benchmark process: RSS, its peak, page faults, allocator modes.

``ru_maxrss`` only ever rises (traps.md): measure each configuration's peak in its own
process. ``KEEP_HEAP`` is the environment that tells glibc to keep freed memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

KEEP_HEAP = {  # glibc: never give freed memory back to the kernel (as an arena would)
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's maximum: blocks up to 32 MiB on the heap
    "MALLOC_TRIM_THRESHOLD_": str(1 << 40),  # never trim the heap's top
}
ALLOCATOR_MODES = {"default": {}, "keep-heap": KEEP_HEAP}
"""Allocator mode name -> environment variables a child process runs with."""



def _proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def rss_bytes() -> int | None:
    """This process's resident set size now (None off Linux)."""
    kib = _proc_status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Lower the peak RSS (``VmHWM``, ``ru_maxrss``) to the current RSS (Linux >= 4.0).

    ``ru_maxrss`` only ever rises, so without this the imports' transient peak hides
    anything smaller measured later in the same process. False where not possible:
    then only one measurement per process is meaningful (traps.md).
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


class CountingFaults:
    """Wraps a function; counts the page faults and kernel time of its calls.

    A library that allocates fresh outputs on every call may re-fault its memory each
    time (traps.md: ``ru_minflt``); this tells that cost apart from the arithmetic.
    One ``getrusage`` before and after each call: about a microsecond.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.calls = 0
        self.faults = 0
        self.system_s = 0.0

    def __call__(self) -> Any:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF)
        result = self.fn()
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.calls += 1
        self.faults += after.ru_minflt - before.ru_minflt
        self.system_s += after.ru_stime - before.ru_stime
        return result

    def reset(self) -> None:
        """Forget the calls so far (e.g. the first ones, which fault everything in)."""
        self.calls, self.faults, self.system_s = 0, 0, 0.0

    def per_call(self) -> tuple[float, float]:
        """Minor page faults and kernel (system) seconds per call so far."""
        n = max(self.calls, 1)
        return self.faults / n, self.system_s / n


def peak_rss_bytes() -> int:
    """The peak RSS since the process started or since ``reset_peak_rss``."""
    kib = _proc_status_kib("VmHWM")
    if kib is None:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kib * 1024
