"""Timing for ``bench/``: samples, medians and same-run ratios of interleaved calls.

Time a kernel with its output preallocated and its inputs warm (``warm_up``); compare
with a peer by interleaving the two in one run (A B A B ..., at least ``MIN_PAIRS``
pairs) and report the median of the per-pair ratios with its spread (``interleave``,
``ratio_stats``): the clock drifts, a same-run ratio does not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MIN_PAIRS = 11
"""Fewest A/B pairs a reported ratio may rest on (``--quick`` runs excepted)."""


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
