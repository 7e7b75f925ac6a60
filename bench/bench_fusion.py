"""Conv -> BatchNormalization -> ReLU6 fusion (pyfrozen.models.fusion): fused against unfused.

The train suite's MobileNet V1 (alpha 1.0 and 0.25, 96x96x3, batch 32; ``--quick``:
alpha 0.25, 64x64, batch 4) + GlobalAveragePooling2D + Dense(10), SGD momentum 0.9,
float32, through the public API: inference (``predict_on_batch``), the base-frozen
step and the top-2-blocks step (``train_on_batch``). One model per configuration; the
two sides differ only in ``pyfrozen.models.fusion.enabled``, switched before each call,
and are interleaved (fused, unfused, fused, ...) in one process: median ms per call and
the median (min-max) of the per-round ratio unfused / fused.

A second table is the full training step with the depthwise recompute
(``ops.batch_norm(recompute_input=True)``: a BN -> activation pair recomputes a stride-1
DepthwiseConv2D's output in backward instead of keeping it) on and off: times
interleaved in one process as above, and each side's bytes kept for backward and peak
RSS rise over ``MEMORY_STEPS`` steps in a process of its own. A third table is the full
step with BatchNormalization's relu / relu6 mask taken in backward from x and the forward's
affine constants (the default) or from the kept output y (one stream more in each of the
backward's two passes), interleaved in one process. Run it pinned, from outside the
repository root::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_fusion.py --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import memory  # noqa: E402
import train_setup as setup  # noqa: E402
from children import run_json  # noqa: E402

FUSED_CONFIGS = ("inference", "frozen", "top2")
MEMORY_STEPS = 4
SCRIPT = str(Path(__file__).resolve())


def recomputing(step: Callable[[], object], on: bool) -> Callable[[], object]:
    """``step`` with the depthwise recompute switched ``on`` (or off) just before it runs."""
    from pyfrozen.ops import batchnorm, conv

    def call() -> object:
        batchnorm.output_recomputer = conv.output_recomputer if on else (lambda y: None)
        return step()
    return call


def full_step_pair(shape: setup.Shape, quick: bool, side: Callable[..., Callable[[], object]],
                   a: object, b: object) -> tuple:
    """The full step as ``side(step, a)`` against ``side(step, b)``, interleaved:
    ((a stats, b stats, ratio b / a), load)."""
    model = setup.pyfrozen_compiled("full", shape)
    step = setup.pyfrozen_step(model, "full", shape)
    return common.measured(lambda: common.time_pair(side(step, a), side(step, b), quick))


def recompute_row(shape: setup.Shape, quick: bool) -> list[str]:
    """The full step with the recompute on and off: ms, ratio, kept MB, peak RSS rise MB."""
    (on, off, ratio), load = full_step_pair(shape, quick, recomputing, True, False)
    mem = {side: run_json(SCRIPT, ["--child", side, shape.arg()]) for side in ("on", "off")}
    mb = [f"{mem[side][key] / 1e6:.1f}" for key in ("saved", "rss_rise") for side in ("on", "off")]
    return [shape.label(), f"{on.median * 1e3:.2f}", f"{off.median * 1e3:.2f}", ratio.fmt(3, "x"),
            *mb, load.fmt()]


def child_memory(side: str, shape: setup.Shape) -> dict[str, int]:
    """Bytes kept for backward by one full step and the peak RSS rise over
    ``MEMORY_STEPS`` steps, with the recompute on or off, alone in this process."""
    from pyfrozen.autograd import trace

    limiter = common.set_threads(1, None)
    model = setup.pyfrozen_compiled("full", shape)
    step = recomputing(setup.pyfrozen_step(model, "full", shape), side == "on")
    before = memory.rss_bytes() or 0
    memory.reset_peak_rss()
    for _ in range(MEMORY_STEPS):
        step()
    rise = memory.peak_rss_bytes() - before
    with trace() as t:
        step()
    del limiter
    return {"saved": t.saved_bytes, "rss_rise": rise}


def masked_from(step: Callable[[], object], source: str) -> Callable[[], object]:
    """``step`` with BatchNormalization's activation mask read from ``source`` ("x": the
    forward's affine constants, the default; "y": the kept output) in backward."""
    from pyfrozen.ops import batchnorm

    def call() -> object:
        batchnorm._MASK_ACTIVATIONS = ("relu", "relu6") if source == "x" else ()
        return step()
    return call


def mask_row(shape: setup.Shape, quick: bool) -> list[str]:
    """The full step with the mask from x and from y: ms, ratio, rounds, load."""
    (from_x, from_y, ratio), load = full_step_pair(shape, quick, masked_from, "x", "y")
    return [shape.label(), f"{from_x.median * 1e3:.2f}", f"{from_y.median * 1e3:.2f}",
            ratio.fmt(3, "x"), str(ratio.n), load.fmt()]


def switched(step: Callable[[], object], on: bool) -> Callable[[], object]:
    """``step`` with fusion switched ``on`` (or off) just before it runs."""
    from pyfrozen.models import fusion

    def call() -> object:
        fusion.enabled = on
        return step()
    return call


def measure(config: str, shape: setup.Shape, quick: bool) -> list[str]:
    """One table row: fused and unfused ms, their ratio, the load meanwhile."""
    model = setup.pyfrozen_compiled(config, shape)
    step = setup.pyfrozen_step(model, config, shape)
    (fused, unfused, ratio), load = common.measured(
        lambda: common.time_pair(switched(step, True), switched(step, False), quick))
    return [setup.CONFIGS[config], f"{fused.median * 1e3:.2f}", f"{unfused.median * 1e3:.2f}",
            ratio.fmt(3, "x"), str(ratio.n), load.fmt()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small network, few rounds")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child_memory(args.child[0], setup.Shape.parse(args.child[1]))))
        return
    torch = common.optional_torch()  # only for the machine line
    limiter = common.set_threads(1, torch)
    line = common.machine_line(1, torch)
    for shape in setup.QUICK_SHAPES if args.quick else setup.FULL_SHAPES:
        rows = [measure(config, shape, args.quick) for config in FUSED_CONFIGS]
        print(f"\n{'### ' if args.markdown else ''}Fusion: {shape.label()}, 1 thread\n")
        print(f"Machine: {line}\n")
        print(common.table(["configuration", "fused ms", "unfused ms", "unfused / fused", "rounds",
                     "load %"], rows, args.markdown))
    shapes = setup.QUICK_SHAPES if args.quick else setup.FULL_SHAPES
    rows = [recompute_row(shape, args.quick) for shape in shapes]
    print(f"\n{'### ' if args.markdown else ''}Depthwise recompute: full step, 1 thread\n")
    print(f"Machine: {line}\n")
    print(common.table(["network", "on ms", "off ms", "off / on", "kept MB on", "kept MB off",
                        "RSS rise MB on", "RSS rise MB off", "load %"], rows, args.markdown))
    rows = [mask_row(shape, args.quick) for shape in shapes]
    print(f"\n{'### ' if args.markdown else ''}BatchNormalization mask in backward: full step, "
          "1 thread\n")
    print(f"Machine: {line}\n")
    print(common.table(["network", "from x ms", "from y ms", "y / x", "rounds", "load %"], rows,
                       args.markdown))
    print("\nfloat32, SGD momentum 0.9. The same model both ways, fusion switched (first "
          "tables), the depthwise recompute or the BatchNormalization mask's source switched "
          "(last tables) before each call; times: median ms per call; ratio: median (min-max) "
          "of per-round off / on (y / x) time (> 1: the fused, recomputing or from-x side is "
          "faster). Kept: bytes saved for backward "
          "by one step (trace()); RSS rise: peak over 4 steps, each side in its own process "
          "(default allocator). Load: other processes' CPU use here/all/steal, % of one CPU.")
    del limiter


if __name__ == "__main__":
    main()
