"""Benchmark methodology shared by every script in ``bench/``: one import for all of it.

The rules come from ``traps.md`` ("Memory and measurement"); each concern lives in its
own module, re-exported here so ``from common import ...`` keeps working:

* ``timing``: samples, warm-up, interleaved A/B rounds, same-run ratios (``Stats``);
* ``load``: what other processes took from our CPUs meanwhile, waiting for quiet;
* ``memory``: RSS and its peak, page faults, the allocator modes (``KEEP_HEAP``);
* ``machine``: every library's thread count and the machine line printed with each table;
* ``report``: markdown and text tables.

Run benchmarks from outside the repository root (``cd /tmp``), otherwise Python imports
the source tree of ``pyfrozen``, which has no compiled module.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the modules below, when imported

from load import (  # noqa: E402
    SLACK_TICKS,
    CpuSnapshot,
    Load,
    Quiet,
    allowed_cpus,
    least_contended,
    measured,
    wait_for_quiet,
)
from machine import (  # noqa: E402
    affinity_summary,
    blas_summary,
    build_hash,
    cpu_info,
    cpu_summary,
    machine_line,
    optional_torch,
    pyfrozen_summary,
    set_threads,
    thread_counts,
    torch_summary,
)
from memory import (  # noqa: E402
    ALLOCATOR_MODES,
    KEEP_HEAP,
    CountingFaults,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
)
from report import markdown_table, table, text_table  # noqa: E402
from timing import (  # noqa: E402
    MIN_PAIRS,
    Stats,
    calls_per_sample,
    gflops,
    interleave,
    ratio_stats,
    repeat,
    rounds_for,
    time_group,
    time_pair,
    time_per_call,
    warm_up,
)

__all__ = [
    "ALLOCATOR_MODES", "KEEP_HEAP", "MIN_PAIRS", "SLACK_TICKS", "CountingFaults", "CpuSnapshot",
    "Load", "Quiet", "Stats", "affinity_summary", "allowed_cpus", "blas_summary", "build_hash",
    "calls_per_sample", "cpu_info", "cpu_summary", "gflops", "interleave", "least_contended",
    "machine_line", "markdown_table", "measured", "optional_torch", "peak_rss_bytes",
    "pyfrozen_summary", "ratio_stats", "repeat", "reset_peak_rss", "rounds_for", "rss_bytes",
    "set_threads", "table", "text_table", "thread_counts", "time_group", "time_pair",
    "time_per_call", "torch_summary", "wait_for_quiet", "warm_up",
]
