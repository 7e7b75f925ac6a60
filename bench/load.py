"""Other processes' load on a shared machine, measured around a benchmark.

``measured`` tells what other processes took from our CPUs meanwhile (``Load``);
``least_contended`` waits for quiet and re-times while it was too much. Print that load
next to the figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


SLACK_TICKS = 3
"""Clock ticks of CPU time per measured interval not counted as other processes' load."""


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (all of them where affinity is unknown)."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def _proc_stat_seconds(cpus: set[int]) -> tuple[float, float]:
    """Busy and steal seconds summed over ``cpus`` from ``/proc/stat`` (0, 0 off Linux)."""
    busy = steal = 0.0
    try:
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                name, *fields = line.split()
                if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                    continue
                # user nice system idle iowait irq softirq steal ...
                values = [float(x) for x in fields]
                busy += (sum(values[:3]) + sum(values[5:7])) / tick
                steal += values[7] / tick if len(values) > 7 else 0.0
    except (OSError, ValueError):
        pass
    return busy, steal


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy CPU time of our CPUs and of all CPUs, steal time, and this process tree's."""

    wall: float
    busy_here: float
    busy_all: float
    steal: float
    own: float

    @classmethod
    def take(cls) -> CpuSnapshot:
        """Read the counters now; ``own`` includes children already waited for."""
        busy_here, _ = _proc_stat_seconds(allowed_cpus())
        busy_all, steal = _proc_stat_seconds(set(range(os.cpu_count() or 1)))
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return cls(time.perf_counter(), busy_here, busy_all, steal, own)


@dataclass(frozen=True)
class Load:
    """Other processes' CPU use on our CPUs and on all, and host steal: % of one CPU."""

    here: float
    all: float
    steal: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> Load:
        """Load over the interval.

        The counters tick every 10 ms and come from two sources (``/proc/stat``, our
        ``os.times``) that disagree by a tick or two: ``SLACK_TICKS`` are forgiven.
        """
        wall = max(after.wall - before.wall, 1e-9)
        own = after.own - before.own + SLACK_TICKS / os.sysconf("SC_CLK_TCK")

        def pct(busy: float) -> float:
            return 100 * max(busy - own, 0.0) / wall

        return cls(
            pct(after.busy_here - before.busy_here),
            pct(after.busy_all - before.busy_all),
            100 * (after.steal - before.steal) / wall,
        )

    def fmt(self) -> str:
        """``here/all/steal`` in percent, e.g. ``0/98/0``."""
        return f"{self.here:.0f}/{self.all:.0f}/{self.steal:.0f}"


def measured(fn: Callable[[], T]) -> tuple[T, Load]:
    """``fn()`` and the load other processes put on our CPUs meanwhile."""
    before = CpuSnapshot.take()
    result = fn()
    return result, Load.between(before, CpuSnapshot.take())


@dataclass(frozen=True)
class Quiet:
    """When a measurement counts as uncontended.

    By default other processes on every CPU count, not only on ours: on a VM two vCPUs
    may share a physical core, and a busy neighbour slowed 1-thread pinned runs here.
    """

    max_busy: float = 10.0  # % of one CPU
    whole_machine: bool = True

    def busy(self, load: Load) -> float:
        """The load that matters: other processes (ours or all CPUs), or host steal."""
        return max(load.all if self.whole_machine else load.here, load.steal)

    def ok(self, load: Load) -> bool:
        """Whether ``load`` stayed within ``max_busy``."""
        return self.busy(load) <= self.max_busy


def wait_for_quiet(quiet: Quiet, timeout_s: float, interval_s: float = 0.5) -> bool:
    """Sleep until other processes leave the machine (or our CPUs); False on timeout."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        _, load = measured(lambda: time.sleep(interval_s))
        if quiet.ok(load):
            return True
    return False


def least_contended(
    fn: Callable[[], T], quiet: Quiet, attempts: int, quiet_wait_s: float
) -> tuple[T, Load, int]:
    """Run ``fn`` on a quiet machine if possible; retry while it was not.

    Each attempt first waits up to ``quiet_wait_s`` for other processes to go. Returns
    the least contended attempt's result and load, and the number of attempts made.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    tries = 0
    best: tuple[T, Load] | None = None
    while tries < attempts:
        tries += 1
        wait_for_quiet(quiet, quiet_wait_s)
        result, load = measured(fn)
        if best is None or quiet.busy(load) < quiet.busy(best[1]):
            best = (result, load)
        if quiet.ok(load):
            break
    return best[0], best[1], tries
