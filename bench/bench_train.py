"""Training MobileNet V1 with frozen parts: pyfrozen's public API against torch.

MobileNet V1 (alpha 1.0 and 0.25, 96x96x3, batch 32; ``--quick``: alpha 0.25, 64x64,
batch 4) + GlobalAveragePooling2D + Dense(10) logits, SGD momentum 0.9, float32. pyfrozen
runs ``compile`` / ``train_on_batch`` / ``predict_on_batch`` / ``fit``; torch the same
architecture in ``channels_last`` with pyfrozen's initial weights copied in
(``train_setup``). Configurations: inference; full step; base frozen; top 2 blocks +
head; the prefix cache (``fit(cache_frozen_features=True)``; torch: features computed
once by hand, then head steps).

Every measurement runs in a fresh process per allocator mode (glibc defaults and
keep-heap): the step times of both libraries interleaved (A B A B) in one process per
configuration, and the peak RSS rise in one process per library and configuration.
Reported: ms/step, ratios, peak memory, each library's freezing speed-up, and pyfrozen's
per-block, per-pass breakdown from ``pyfrozen.autograd.trace()``. Run pinned::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_train.py --markdown
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from children import run_json  # noqa: E402
from common import (  # noqa: E402
    ALLOCATOR_MODES,
    Quiet,
    Stats,
    least_contended,
    machine_line,
    optional_torch,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    set_threads,
    table,
    time_group,
    time_pair,
)
from train_breakdown import breakdown_child, breakdown_tables  # noqa: E402
from train_setup import (  # noqa: E402
    CONFIGS,
    FULL_SHAPES,
    QUICK_SHAPES,
    Shape,
    pyfrozen_cached_steps,
    pyfrozen_compiled,
    pyfrozen_step,
    torch_step,
)

MEMORY_STEPS = 4
SCRIPT = str(Path(__file__).resolve())


# ****** children ******


def child_pair(config: str, shape: Shape, threads: int, quick: bool) -> dict[str, Any]:
    """Both libraries' steps of ``config`` in this process: medians and same-run ratio."""
    torch = optional_torch()
    limiter = set_threads(threads, torch)
    model = pyfrozen_compiled(config, shape)
    peer = torch_step(torch, model, config, shape)
    quiet = Quiet()
    attempts, wait = (1, 2.0) if quick else (3, 120.0)
    if config == "cached":  # pyfrozen's steps come from fit's epochs: not paired
        ours = [s for _ in range(2 if quick else 5) for s in pyfrozen_cached_steps(model, shape)]
        samples, load, tries = least_contended(lambda: time_group({"peer": peer}, quick),
                                               quiet, attempts, wait)
        o, p = Stats.of(ours), Stats.of(samples["peer"])
        ratio = Stats(p.median / o.median, p.median / o.median, p.median / o.median, 1)
    else:
        ours_fn = pyfrozen_step(model, config, shape)
        if config == "inference":
            same_outputs(ours_fn(), peer())
        (o, p, ratio), load, tries = least_contended(
            lambda: time_pair(ours_fn, peer, quick), quiet, attempts, wait)
    del limiter
    return {"ours": asdict(o), "peer": asdict(p), "ratio": asdict(ratio),
            "load": load.fmt(), "tries": tries}


def same_outputs(ours: Any, theirs: Any) -> None:
    """Fail loudly unless both networks compute the same logits: same weights, same work."""
    import numpy as np

    a, b = np.asarray(ours), theirs.detach().numpy()
    err = float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-30)
    if a.shape != b.shape or err > 1e-3:
        raise AssertionError(f"pyfrozen and torch logits differ: {a.shape} vs {b.shape}, "
                             f"relative error {err:.2e}")


def child_memory(library: str, config: str, shape: Shape, threads: int) -> dict[str, Any]:
    """Peak RSS rise of ``MEMORY_STEPS`` steps of one library, alone in this process."""
    torch = optional_torch() if library == "torch" else None
    limiter = set_threads(threads, torch)
    model = pyfrozen_compiled(config, shape)
    if library == "torch":
        fn = torch_step(torch, model, config, shape)
        del model  # only its initial weights were needed
    elif config == "cached":
        def fn() -> object:
            return pyfrozen_cached_steps(model, shape)
    else:
        fn = pyfrozen_step(model, config, shape)
    before = rss_bytes() or 0
    reset = reset_peak_rss()
    for _ in range(1 if config == "cached" and library == "pyfrozen" else MEMORY_STEPS):
        fn()
    del limiter
    return {"rss_rise": peak_rss_bytes() - before, "reset": reset}


def child_main(args: Sequence[str]) -> None:
    import json

    kind, *rest = args
    if kind == "pair":
        result = child_pair(rest[0], Shape.parse(rest[1]), int(rest[2]), rest[3] == "quick")
    elif kind == "memory":
        result = child_memory(rest[0], rest[1], Shape.parse(rest[2]), int(rest[3]))
    else:
        result = breakdown_child(Shape.parse(rest[0]))
    print(json.dumps(result))


# ****** report ******


def ms(stats: dict[str, Any]) -> str:
    return f"{stats['median'] * 1e3:.2f}"


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f}"


def step_rows(pairs: dict[str, Any], memory: dict[tuple[str, str], Any]) -> list[list[str]]:
    rows = []
    for config, r in pairs.items():
        ours, peer = memory["pyfrozen", config]["rss_rise"], memory["torch", config]["rss_rise"]
        rows.append([CONFIGS[config], ms(r["ours"]), ms(r["peer"]),
                     Stats(**r["ratio"]).fmt(2, "x"), mb(ours), mb(peer),
                     f"{ours / max(peer, 1):.2f}x", f"{r['load']} ({r['tries']})"])
    return rows


def time_ratio(t: dict[str, float], num: str, den: str) -> str:
    """``t[num] / t[den]``, or "-" where a configuration was not run."""
    return f"{t[num] / t[den]:.2f}x" if num in t and den in t else "-"


def speedup_rows(pairs: dict[str, Any]) -> list[list[str]]:
    """Each library's freezing speed-up: full step time over each cheaper configuration."""
    rows = []
    for key, library in (("ours", "pyfrozen"), ("peer", "torch")):
        t = {c: r[key]["median"] for c, r in pairs.items()}
        cells = [time_ratio(t, "full", c) for c in ("frozen", "top2", "cached")]
        cells += [time_ratio(t, c, "inference") for c in ("frozen", "top2")]
        rows.append([library, *cells])
    return rows


def print_shape(shape: Shape, mode: str, threads: int, args: argparse.Namespace,
                line: str) -> None:
    """Run one shape's children in allocator ``mode``; print its two tables."""
    speed = "quick" if args.quick else "full"
    pairs = {c: run_json(SCRIPT, ["--child", "pair", c, shape.arg(), str(threads), speed], mode)
             for c in args.configs}
    memory = {(lib, c): run_json(SCRIPT, ["--child", "memory", lib, c, shape.arg(), str(threads)],
                                 mode) for c in args.configs for lib in ("pyfrozen", "torch")}
    title = f"{shape.label()}, {threads} thread(s), allocator {mode}"
    print(f"\n{'### ' if args.markdown else ''}Train step: {title}\n")
    print(f"Machine: {line}\n")
    print(table(["configuration", "pyfrozen ms", "torch ms", "torch/pyfrozen",
                 "pyfrozen RSS rise MB", "torch RSS rise MB", "RSS pyfrozen/torch",
                 "load % (tries)"], step_rows(pairs, memory), args.markdown))
    print(f"\n{'### ' if args.markdown else ''}Freezing speed-up: {title}\n")
    print(f"Machine: {line}\n")
    print(table(["library", "full / frozen", "full / top2", "full / cached",
                 "frozen / inference", "top2 / inference"], speedup_rows(pairs), args.markdown))
    if not all(m["reset"] for m in memory.values()):
        print("\n(peak RSS could not be reset: RSS rises are measured from import's peak)")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small network, few rounds")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(ALLOCATOR_MODES),
                    help="allocator modes, comma-separated (default: all)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"configurations, comma-separated (default: all of {', '.join(CONFIGS)})")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    args.configs = args.configs.split(",")
    unknown = sorted(set(args.configs) - set(CONFIGS)) + sorted(
        set(args.modes.split(",")) - set(ALLOCATOR_MODES))
    if unknown:
        ap.error(f"unknown configuration or allocator mode {unknown}: configurations "
                 f"{list(CONFIGS)}, modes {list(ALLOCATOR_MODES)}")
    torch = optional_torch()
    if torch is None:
        print("torch: not importable, train suite skipped (pip install torch==2.13.0)")
        return
    started = time.perf_counter()
    limiter = set_threads(args.threads, torch)
    line = machine_line(args.threads, torch)
    del limiter
    shapes = QUICK_SHAPES if args.quick else FULL_SHAPES
    for shape in shapes:
        for mode in args.modes.split(","):
            print_shape(shape, mode, args.threads, args, line)
        breakdown = run_json(SCRIPT, ["--child", "breakdown", shape.arg()])
        breakdown_tables(breakdown, shape, line, args.markdown)
    print(f"\nfloat32, SGD momentum 0.9, torch channels_last with pyfrozen's initial weights. "
          f"Times: median ms per step; torch/pyfrozen: median (min-max) of per-round ratios "
          f"(A B A B in one process; cached: ratio of medians, pyfrozen's from fit's epochs). "
          f"RSS rise: peak RSS over {MEMORY_STEPS} steps minus the RSS before (one process per "
          f"library and configuration). Speed-ups: medians from different processes. "
          f"Allocator keep-heap: glibc keeps freed memory. Load: other processes' CPU use "
          f"here/all/steal, % of one CPU. Wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
