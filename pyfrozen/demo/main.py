"""Runs the demo: the six runs in their own processes, the traced steps, the report, the PNG."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyfrozen
from pyfrozen.demo import plot, report
from pyfrozen.demo.config import DemoConfig
from pyfrozen.demo.data import target_task
from pyfrozen.demo.measure import WAIT_POLICY, RunResult, in_own_process
from pyfrozen.demo.network import BLOCKS
from pyfrozen.demo.runs import RUNS
from pyfrozen.demo.steps import StepTrace, describe, trace_steps

TRACE_BATCH = 32

HEADINGS = {
    "source": "1. Source task: train the CNN on the letters with fit, and save it",
    "phase1": "2. Target task, phase 1 (feature extraction): load the base, cut it at 'pool', "
              "freeze it (BN in inference mode), train a new head on cached features",
    "phase2": "3. Target task, phase 2 (fine-tuning): unfreeze the top blocks' convolutions, "
              "low learning rate, BN kept frozen",
    "full": "4. For comparison, full fine-tuning: phase 1's model with every convolution "
            "unfrozen (BN frozen), trained like phase 2 (no frozen prefix, so no cache)",
    "scratch": "5. Baseline: the same CNN from random weights, same few digits, whole network "
               "trained",
    "linear": "6. Baseline: a linear classifier on the raw pixels of the same few digits",
}


@dataclass
class DemoResult:
    """Everything the demo measured (also written to ``results.json`` in the out folder)."""

    runs: dict[str, RunResult]
    steps: list[StepTrace]
    wall_seconds: float
    png: str | None = None
    config: dict = field(default_factory=dict)


def _intro(config: DemoConfig) -> list[str]:
    task = target_task(config.seed, config.shots, config.val_per_class)
    widths = "-".join(str(f) for f, _ in BLOCKS)
    return [
        f"pyfrozen {pyfrozen.__version__} demo: transfer learning, letters -> digits "
        f"(seed {config.seed}, {config.threads or pyfrozen.get_num_threads()} thread(s), "
        f"{config.isa or pyfrozen.get_isa()} kernels{', QUICK mode' if config.quick else ''})",
        "Data: pyfrozen.datasets.load_glyphs(), printed characters in 16 fonts, distorted, "
        "24x24 grey.",
        f"  source: 26 letters, {config.source_per_class - 40} per class to train on; target: "
        f"10 digits (never seen by the source), {config.shots} per class to train on, "
        f"{len(task.x_val)} to draw the curves, {len(task.x_test):,} to test.",
        f"  network: MobileNet-style CNN, 3x3 conv stride 2 then 5 depthwise-separable blocks "
        f"(pointwise {widths}), BN + ReLU6 after every convolution, global pooling, head.",
        "Each run below trains in a process of its own, so its peak memory is its own "
        f"(OpenMP: OMP_WAIT_POLICY={os.environ.get(WAIT_POLICY, 'PASSIVE')}).",
    ]


def _write_json(result: DemoResult, path: Path) -> None:
    data = {"config": result.config, "wall_seconds": result.wall_seconds, "png": result.png,
            "runs": {k: asdict(r) for k, r in result.runs.items()},
            "steps": [asdict(s) for s in result.steps]}
    path.write_text(json.dumps(data, indent=1))


def _require_h5py() -> None:
    """The source model is saved and loaded as a Keras 3 file, which h5py writes: say so
    before six runs start, not in the first one's traceback."""
    try:
        import h5py  # noqa: F401
    except ImportError as error:
        raise ImportError("the demo saves its source model as a Keras 3 file (.keras), which "
                          "needs h5py: pip install 'pyfrozen[demo]'") from error


def _plot(config: DemoConfig, runs: dict[str, RunResult]) -> str | None:
    if not config.plot:
        print("Plot: skipped (--no-plot).")
        return None
    missing = plot.matplotlib_missing()
    if missing:
        print(f"Plot: skipped, matplotlib is not installed ({missing}); "
              "pip install 'pyfrozen[plot]' to get it.")
        return None
    path = plot.write_png(runs, config.out / "demo.png")
    print(f"Plot: learning curves and time / memory per run written to {path}")
    return str(path)


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """Runs the whole demo and prints what it measured.

    Args:
        config: the settings (default: `DemoConfig()`, the full run; see
            `DemoConfig.quickened` for a run of seconds).

    Returns:
        A `DemoResult` with every run's numbers (also in ``<out>/results.json``).

    The runs start fresh processes with ``spawn``, which imports the main module again:
    call this from a script under ``if __name__ == "__main__":`` (the ``pyfrozen``
    command does).

    Raises:
        RuntimeError: a run failed in its process (the message holds its traceback).
        ImportError: h5py is missing.
    """
    config = config or DemoConfig()
    _require_h5py()
    config.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print("\n".join(_intro(config)), flush=True)
    runs: dict[str, RunResult] = {}
    for run in RUNS:
        name = run.__name__.removesuffix("_run")
        print(f"\n{HEADINGS[name]}", flush=True)
        runs[name] = in_own_process(run, config)
        print("\n".join(report.run_lines(runs[name])), flush=True)

    task = target_task(config.seed, config.shots, config.val_per_class)
    steps = list(trace_steps(task.x_train[:TRACE_BATCH], task.y_train[:TRACE_BATCH]))
    print(f"\nOne training step on {TRACE_BATCH} digits, as pyfrozen.autograd.trace() saw it "
          "(no feature cache):")
    for step in steps:
        print("\n".join("   " + line for line in describe(step, TRACE_BATCH)))

    print("\nSummary:")
    print("\n".join(report.table(list(runs.values()))))
    print("\n".join(report.verdict(runs)))
    png = _plot(config, runs)
    result = DemoResult(runs, steps, time.perf_counter() - start, png,
                        {k: str(v) if isinstance(v, Path) else v
                         for k, v in asdict(config).items()})
    _write_json(result, config.out / "results.json")
    print(f"Done in {result.wall_seconds:.1f} s; numbers in {config.out / 'results.json'}.")
    return result
