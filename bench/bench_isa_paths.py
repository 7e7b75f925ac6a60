"""pyfrozen's instruction-set paths against each other, interleaved in one process.

Each ISA path this CPU has above ``generic`` (``avx2``, ``avx512``) runs the same work,
switched with ``pyfrozen.set_isa`` just before each call, round-robin with numpy's
matmul: bench_gemm's GEMM cases (float32) and MobileNet V1 (alpha 1.0, 96x96, batch 32;
``--quick``: alpha 0.25, 64x64, batch 4) inference and full step. Reported: each path's
GFLOP/s or ms, and the same-round ratios of the lowest path to each higher one and of
numpy to the highest. On a CPU with one vector path, the portable path is compared with
it instead. Run pinned::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_isa_paths.py --markdown
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_gemm import all_cases, operands  # noqa: E402
from machine import machine_line, optional_torch, set_threads  # noqa: E402
from report import table  # noqa: E402
from timing import Stats, gflops, ratio_stats, time_group  # noqa: E402
from train_setup import FULL_SHAPES, QUICK_SHAPES, pyfrozen_compiled, pyfrozen_step  # noqa: E402

import pyfrozen  # noqa: E402


def on_path(isa: str, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run on ISA path ``isa`` (set just before each call)."""

    def call() -> object:
        pyfrozen.set_isa(isa)
        return fn()

    return call


def compare(fns: dict[str, Callable[[], object]], quick: bool) -> dict[str, list[float]]:
    """Interleaved samples of ``fns`` (keyed by path name, plus ``numpy`` if present)."""
    before = pyfrozen.get_isa()
    try:
        return time_group(fns, quick)
    finally:
        pyfrozen.set_isa(before)


def ratio_cells(samples: dict[str, list[float]], paths: list[str]) -> list[str]:
    """Lowest path's time over each higher path's, then numpy's over the highest's."""
    cells = [ratio_stats(samples[p], samples[paths[0]]).fmt(2, "x") for p in paths[1:]]
    if "numpy" in samples:
        cells.append(ratio_stats(samples[paths[-1]], samples["numpy"]).fmt(2, "x"))
    return cells


def gemm_rows(paths: list[str], quick: bool) -> list[list[str]]:
    rng = np.random.default_rng(0)
    rows = []
    cases = all_cases()
    for case in cases[:3] if quick else cases:
        a, b = operands(case, "float32", rng)
        out = np.empty((case.m, case.n), np.float32)
        want = a.astype(np.float64) @ b.astype(np.float64)
        def ours(a: np.ndarray = a, b: np.ndarray = b, out: np.ndarray = out) -> object:
            return pyfrozen.gemm(a, b, out)

        fns = {p: on_path(p, ours) for p in paths}
        for p, fn in fns.items():  # never time a wrong kernel
            fn()
            np.testing.assert_allclose(out, want, rtol=1e-3, atol=1e-3 * np.abs(want).max(),
                                       err_msg=p)
        fns["numpy"] = lambda a=a, b=b, out=out: np.matmul(a, b, out=out)
        samples = compare(fns, quick)
        flop = 2.0 * case.m * case.n * case.k
        speeds = [f"{gflops(flop, Stats.of(samples[p]).median):.1f}" for p in [*paths, "numpy"]]
        rows.append([f"{case.group} {case.op}", f"{case.m},{case.k},{case.n}", *speeds,
                     *ratio_cells(samples, paths)])
    return rows


def step_rows(paths: list[str], quick: bool) -> list[list[str]]:
    shape = QUICK_SHAPES[0] if quick else FULL_SHAPES[0]
    rows = []
    for config in ("inference", "full"):
        step = pyfrozen_step(pyfrozen_compiled(config, shape), config, shape)
        samples = compare({p: on_path(p, step) for p in paths}, quick)
        times = [f"{Stats.of(samples[p]).median * 1e3:.2f}" for p in paths]
        rows.append([f"MobileNet V1 {shape.alpha:g} {shape.size}x{shape.size} b{shape.batch}",
                     config, *times, *ratio_cells(samples, paths)])
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three GEMMs and a small network")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch = optional_torch()
    limiter = set_threads(1, torch)
    line = machine_line(1, torch)
    # The vector paths; with fewer than two, the portable one joins them.
    paths = [p for p in pyfrozen.supported_isas() if p != "generic"]
    if len(paths) < 2:
        paths = pyfrozen.supported_isas()
    ratios = [f"{paths[0]}/{p} time" for p in paths[1:]]
    print(f"\n{'### ' if args.markdown else ''}GEMM per ISA path, float32, 1 thread\n")
    print(f"Machine: {line}\n")
    print(table(["case", "GEMM (m,k,n)", *[f"{p} GFLOP/s" for p in paths], "numpy GFLOP/s",
                 *ratios, f"numpy/{paths[-1]} time"], gemm_rows(paths, args.quick), args.markdown))
    print(f"\n{'### ' if args.markdown else ''}MobileNet V1 per ISA path, 1 thread\n")
    print(f"Machine: {line}\n")
    print(table(["network", "configuration", *[f"{p} ms" for p in paths], *ratios],
                step_rows(paths, args.quick), args.markdown))
    print("\nEvery path and numpy interleaved round-robin in one process (the path set just "
          "before each call); ratios: median (min-max) of the per-round ratios (> 1: the "
          "higher path / pyfrozen faster).")
    del limiter


if __name__ == "__main__":
    main()
