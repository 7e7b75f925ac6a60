"""Conv -> BatchNormalization -> ReLU6 fusion (pyfrozen.models.fusion): fused against unfused.

The train suite's MobileNet V1 (alpha 1.0 and 0.25, 96x96x3, batch 32; ``--quick``:
alpha 0.25, 64x64, batch 4) + GlobalAveragePooling2D + Dense(10), SGD momentum 0.9,
float32, through the public API: inference (``predict_on_batch``), the base-frozen
step and the top-2-blocks step (``train_on_batch``). One model per configuration; the
two sides differ only in ``pyfrozen.models.fusion.enabled``, switched before each call,
and are interleaved (fused, unfused, fused, ...) in one process: median ms per call and
the median (min-max) of the per-round ratio unfused / fused. Run it pinned, from outside
the repository root::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_fusion.py --markdown
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import train_setup as setup  # noqa: E402

FUSED_CONFIGS = ("inference", "frozen", "top2")


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
    args = ap.parse_args(argv)
    torch = common.optional_torch()  # only for the machine line
    limiter = common.set_threads(1, torch)
    line = common.machine_line(1, torch)
    for shape in setup.QUICK_SHAPES if args.quick else setup.FULL_SHAPES:
        rows = [measure(config, shape, args.quick) for config in FUSED_CONFIGS]
        print(f"\n{'### ' if args.markdown else ''}Fusion: {shape.label()}, 1 thread\n")
        print(f"Machine: {line}\n")
        print(common.table(["configuration", "fused ms", "unfused ms", "unfused / fused", "rounds",
                     "load %"], rows, args.markdown))
    print("\nfloat32, SGD momentum 0.9. The same model both ways, fusion switched before "
          "each call; times: median ms per call; ratio: median (min-max) of per-round "
          "unfused / fused time (> 1: fusion is faster). Load: other processes' CPU use "
          "here/all/steal, % of one CPU.")
    del limiter


if __name__ == "__main__":
    main()
