"""The demo's PNG: learning curves, and time and memory per run (matplotlib, optional).

matplotlib is the ``plot`` extra (``pip install 'pyfrozen[plot]'``); without it the demo
says so and goes on.
"""

from __future__ import annotations

from pathlib import Path

from pyfrozen.demo.measure import RunResult

COLORS = {"source": "#777777", "phase1": "#1f77b4", "phase2": "#2ca02c",
          "full": "#ff7f0e", "scratch": "#d62728", "linear": "#9467bd"}
SHORT = {"source": "source\n(letters)", "phase1": "phase 1\nfrozen",
         "phase2": "phase 2\ntop blocks", "full": "full\nfine-tune", "scratch": "scratch",
         "linear": "raw\npixels"}
CONTINUE = ("phase2", "full")  # runs that start from phase 1's model


def matplotlib_missing() -> str | None:
    """None when matplotlib can be imported, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


def _curves(ax: object, runs: dict[str, RunResult], key: str, title: str) -> None:
    offset = len(runs["phase1"].history.get(key, []))
    for name in ("phase1", "phase2", "full", "scratch", "linear"):
        values = runs[name].history.get(key, [])
        start = offset if name in CONTINUE else 0
        ax.plot(range(start + 1, start + len(values) + 1), values, color=COLORS[name],
                label=SHORT[name].replace("\n", " "))
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def _bars(ax: object, values: dict[str, float], title: str, log: bool) -> None:
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color=[COLORS[n] for n in names])
    ax.set_xticks(range(len(names)), [SHORT[n] for n in names], fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")


def write_png(runs: dict[str, RunResult], path: Path) -> Path:
    """Writes the 2x2 figure to ``path`` and returns it.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    _curves(axes[0, 0], runs, "val_accuracy", "digits: accuracy on held-out digits")
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].legend()
    _curves(axes[0, 1], runs, "loss", "digits: training loss")
    _bars(axes[1, 0], {n: r.steady_epoch_seconds for n, r in runs.items()},
          "time per epoch (s, log scale; source epochs hold far more images)", log=True)
    _bars(axes[1, 1], {n: (r.peak_rss or 0) / 2**20 for n, r in runs.items()},
          "peak memory of each run's process (MiB);\nhatched: added once fit started",
          log=False)
    grown = [(r.grown or 0) / 2**20 for r in runs.values()]
    below = [(r.fit_start_rss or 0) / 2**20 for r in runs.values()]
    axes[1, 1].bar(range(len(grown)), grown, bottom=below, color="none", edgecolor="black",
                   hatch="//")
    fig.suptitle("pyfrozen demo: letters -> digits with a frozen base")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
