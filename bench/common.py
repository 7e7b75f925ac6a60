"""Benchmark methodology shared by every script in ``bench/``.

The rules come from ``traps.md`` ("Memory and measurement"):

* time a kernel with its output preallocated and its inputs warm (``warm_up``);
* compare with a peer by interleaving the two in one run (A B A B ..., at least
  ``MIN_PAIRS`` pairs) and report the median of the per-pair ratios with its spread
  (``interleave``, ``ratio_stats``): the clock drifts, a same-run ratio does not;
* give every library the same thread count (``set_threads``);
* print a machine line with every table (``machine_line``): figures from two hosts are
  never comparable;
* the machine may be shared: measure what other processes took from our CPUs meanwhile
  (``measured``, ``Load``), wait for quiet and re-time while it was too much
  (``least_contended``), and print that load next to the figures.

Run benchmarks from outside the repository root (``cd /tmp``), otherwise Python imports
the source tree of ``pyfrozen``, which has no compiled module.
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")

MIN_PAIRS = 11
"""Fewest A/B pairs a reported ratio may rest on (``--quick`` runs excepted)."""


# ****** statistics ******


@dataclass(frozen=True)
class Stats:
    """Median, min and max of a list of samples."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """Summarize ``values`` (at least one)."""
        if not values:
            raise ValueError("Stats.of needs at least one value")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, digits: int = 2, suffix: str = "") -> str:
        """``median (min-max)``, e.g. ``0.93x (0.90-0.97)``."""
        return f"{self.median:.{digits}f}{suffix} ({self.min:.{digits}f}-{self.max:.{digits}f})"


def ratio_stats(ours: Sequence[float], peer: Sequence[float]) -> Stats:
    """Per-pair speed ratio ``peer_time / our_time`` (> 1: we are faster).

    ``ours[i]`` and ``peer[i]`` must come from the same pair (same round).
    """
    if len(ours) != len(peer):
        raise ValueError(f"unpaired samples: {len(ours)} vs {len(peer)}")
    return Stats.of([p / o for o, p in zip(ours, peer, strict=True)])


def gflops(flop: float, seconds: float) -> float:
    """GFLOP/s for ``flop`` floating-point operations done in ``seconds``."""
    return flop / seconds / 1e9


# ****** timing ******


def time_per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def warm_up(fn: Callable[[], object], min_calls: int = 2, min_seconds: float = 0.05) -> float:
    """Call ``fn`` until both limits are reached; return the last call's seconds.

    Warms caches, page-faults outputs and lets thread pools start.
    """
    calls, spent, last = 0, 0.0, 0.0
    while calls < min_calls or spent < min_seconds:
        last = time_per_call(fn, 1)
        spent += last
        calls += 1
    return last


def calls_per_sample(seconds_per_call: float, target_seconds: float) -> int:
    """How many calls make one sample of about ``target_seconds`` (at least 1)."""
    return max(1, round(target_seconds / max(seconds_per_call, 1e-9)))


def rounds_for(
    seconds_per_round: float, budget_seconds: float, min_rounds: int, max_rounds: int
) -> int:
    """Rounds that fit ``budget_seconds``, clamped to ``[min_rounds, max_rounds]``.

    Large problems get few rounds (never fewer than ``min_rounds``), small ones many.
    """
    fit = int(budget_seconds / max(seconds_per_round, 1e-9))
    return max(min_rounds, min(max_rounds, fit))


def repeat(fn: Callable[[], object], rounds: int, number: int) -> list[float]:
    """``rounds`` samples of seconds per call, each averaged over ``number`` calls."""
    return [time_per_call(fn, number) for _ in range(rounds)]


def interleave(
    fns: Mapping[str, Callable[[], object]], rounds: int, numbers: Mapping[str, int]
) -> dict[str, list[float]]:
    """Time several functions round-robin: A B C, A B C, ... (A B A B for two).

    Sample ``i`` of every function comes from round ``i``, so ``ratio_stats`` can pair
    them. ``numbers[name]`` is the calls per sample of each function.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(time_per_call(fn, numbers[name]))
    return samples


def time_group(
    fns: Mapping[str, Callable[[], object]], quick: bool
) -> dict[str, list[float]]:
    """Seconds-per-call samples of several functions, interleaved round-robin.

    Warmed up, then interleaved (A B C, A B C, ...) for about 4 s (1 s when ``quick``),
    at least ``MIN_PAIRS`` rounds (3 when ``quick``). Sample ``i`` of every function
    comes from round ``i``: pass two lists to ``ratio_stats`` for same-run ratios.
    """
    per_call = {name: warm_up(fn) for name, fn in fns.items()}
    numbers = {name: calls_per_sample(t, 0.02 if quick else 0.05) for name, t in per_call.items()}
    round_s = sum(numbers[n] * per_call[n] for n in fns)
    rounds = rounds_for(round_s, 1.0 if quick else 4.0, 3 if quick else MIN_PAIRS, 41)
    return interleave(fns, rounds, numbers)


def time_pair(
    ours: Callable[[], object], peer: Callable[[], object], quick: bool
) -> tuple[Stats, Stats, Stats]:
    """Median seconds per call of each, and the per-round ratio peer / ours.

    ``time_group`` of the two (A B A B).
    """
    samples = time_group({"ours": ours, "peer": peer}, quick)
    return (Stats.of(samples["ours"]), Stats.of(samples["peer"]),
            ratio_stats(samples["ours"], samples["peer"]))


# ****** load from other processes ******

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


# ****** memory ******


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


# ****** threads ******


def optional_torch() -> ModuleType | None:
    """``torch`` if it imports, else None (torch is an optional peer)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def set_threads(n: int, torch: ModuleType | None = None) -> Any:
    """Give every library ``n`` threads: pyfrozen, numpy's BLAS (and OpenMP), torch.

    Returns the threadpoolctl limiter; keep it alive while timing (it is also a
    context manager that restores the old limits).
    """
    from threadpoolctl import threadpool_limits

    import pyfrozen

    pyfrozen.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    return threadpool_limits(limits=n)


def thread_counts(torch: ModuleType | None = None) -> dict[str, int]:
    """The thread count each library reports now, to check ``set_threads``."""
    from threadpoolctl import threadpool_info

    import pyfrozen

    counts = {"pyfrozen": pyfrozen.get_num_threads()}
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            counts[pool["internal_api"]] = pool["num_threads"]
    if torch is not None:
        counts["torch"] = torch.get_num_threads()
    return counts


# ****** machine line ******


def cpu_info() -> dict[str, str]:
    """First processor block of ``/proc/cpuinfo`` (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_summary() -> str:
    """CPU model, family/model numbers and the SIMD flags that matter here."""
    info = cpu_info()
    if not info:
        return f"CPU {platform.processor() or platform.machine()}"
    flags = set(info.get("flags", "").split())
    simd = "+".join(f for f in ("avx2", "fma", "avx512f") if f in flags) or "no avx2"
    return (
        f"CPU {info.get('model name', '?')} (family {info.get('cpu family', '?')} "
        f"model {info.get('model', '?')}), {simd}"
    )


def blas_summary() -> str:
    """numpy's version and BLAS core as threadpoolctl reports them."""
    import numpy
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    cores = ", ".join(
        f"{p['internal_api']} {p.get('version')} {p.get('architecture', '?')} "
        f"{p.get('threading_layer', '?')}"
        for p in pools
    )
    return f"numpy {numpy.__version__} ({cores or 'no BLAS found'})"


def torch_summary(torch: ModuleType | None) -> str:
    """torch's version and CPU capability, or that it is absent."""
    if torch is None:
        return "torch absent"
    cpu = getattr(torch.backends, "cpu", None)
    capability = cpu.get_cpu_capability() if cpu is not None else "?"
    return f"torch {torch.__version__} (capability {capability})"


def build_hash() -> str:
    """Short sha256 over pyfrozen's compiled files (``_core`` and the kernel library).

    Tells two builds apart when the version number does not change.
    """
    import pyfrozen

    digest = hashlib.sha256()
    for path in sorted(Path(pyfrozen.__file__).parent.rglob("*.so*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def pyfrozen_summary(dtype: str = "float32") -> str:
    """pyfrozen's version, build hash, ISA, GEMM blocking for ``dtype`` and cache sizes."""
    import pyfrozen
    from pyfrozen import _core

    bl = _core.gemm_blocking(dtype)
    blocking = " ".join(f"{k}{bl[k]}" for k in ("mr", "nr", "mc", "kc", "nc"))
    caches = "/".join(f"{v >> 10}K" for v in pyfrozen.cache_sizes().values())
    return (
        f"pyfrozen {pyfrozen.__version__} (build {build_hash()}, isa {pyfrozen.get_isa()}, {dtype} "
        f"blocking {blocking}, caches {caches})"
    )


def affinity_summary() -> str:
    """Whether this process is pinned, from ``os.sched_getaffinity``."""
    total = os.cpu_count() or 0
    cpus = sorted(allowed_cpus())
    listed = ",".join(map(str, cpus))
    if len(cpus) < total:
        return f"pinned to cpu {listed} of {total}"
    return f"not pinned (cpus {listed})"


def machine_line(threads: int, torch: ModuleType | None = None, dtype: str = "float32") -> str:
    """One line naming everything a figure depends on; print it with every table."""
    counts = ", ".join(f"{k} {v}" for k, v in thread_counts(torch).items())
    parts = [
        cpu_summary(),
        f"Python {platform.python_version()}",
        blas_summary(),
        torch_summary(torch),
        pyfrozen_summary(dtype),
        f"threads {threads} ({counts})",
        affinity_summary(),
    ]
    return " | ".join(parts)


# ****** tables ******


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; the first column left-aligned, the rest right-aligned."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _text_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """First cell left-aligned, the rest right-aligned."""
    padded = [cells[0].ljust(widths[0])]
    padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(padded)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain table with aligned columns for the terminal."""
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    lines.insert(1, ["-" * w for w in widths])
    return "\n".join(_text_row(line, widths) for line in lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """``markdown_table`` or ``text_table``."""
    return markdown_table(headers, rows) if markdown else text_table(headers, rows)
