"""What the demo prints: every figure comes from the run that measured it."""

from __future__ import annotations

from pyfrozen.demo.measure import RunResult


def mib(nbytes: int | None) -> str:
    """Bytes as MiB text ("n/a" when unknown)."""
    return "n/a" if nbytes is None else f"{nbytes / 2**20:,.1f} MiB"


def seconds(value: float) -> str:
    """A duration with the unit that keeps it readable."""
    return f"{value * 1e3:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def run_lines(result: RunResult) -> list[str]:
    """The lines printed after a run: counts, time per epoch, memory, accuracy, notes."""
    first = result.epoch_seconds[0] if result.epoch_seconds else float("nan")
    epochs = len(result.epoch_seconds)
    lines = [
        f"   params (summary()): {result.trainable:,} trainable, {result.non_trainable:,} "
        "non-trainable",
        f"   {epochs} epochs; time per epoch {seconds(result.steady_epoch_seconds)} (median; "
        f"first epoch {seconds(first)}); peak memory of its process {mib(result.peak_rss)}, "
        f"{mib(result.grown)} above its size when fit started",
        f"   test accuracy: {result.test_accuracy:.3f}",
    ]
    curve = result.history.get("val_accuracy", [])
    if curve:
        epochs = sorted({1, *(max(1, round(k * len(curve) / 4)) for k in range(1, 5))})
        lines.append("   accuracy on the curve digits after epoch " + ", ".join(
            f"{e}: {curve[e - 1]:.3f}" for e in epochs))
    return lines + [f"   {note}" for note in result.notes]


def table(results: list[RunResult]) -> list[str]:
    """The comparison of all runs, one row each."""
    head = f"   {'run':<52} {'trainable':>9} {'s/epoch':>9} {'peak MiB':>9} {'test acc':>8}"
    rows = [head, "   " + "-" * (len(head) - 3)]
    for r in results:
        peak = "n/a" if r.peak_rss is None else f"{r.peak_rss / 2**20:.1f}"
        rows.append(f"   {r.title:<52} {r.trainable:>9,} {r.steady_epoch_seconds:>9.4f} "
                    f"{peak:>9} {r.test_accuracy:>8.3f}")
    return rows


def _signed(delta: float) -> str:
    return f"{delta:+.3f}"


def verdict(runs: dict[str, RunResult]) -> list[str]:
    """The comparisons the demo is about, computed from the measured numbers."""
    p1, p2 = runs["phase1"].test_accuracy, runs["phase2"].test_accuracy
    scratch, linear = runs["scratch"].test_accuracy, runs["linear"].test_accuracy
    full = runs["full"]
    speed = full.steady_epoch_seconds / runs["phase1"].steady_epoch_seconds
    lines = [
        f"   phase 1 vs scratch: {_signed(p1 - scratch)} accuracy; vs raw pixels: "
        f"{_signed(p1 - linear)}",
        f"   phase 2 vs phase 1: {_signed(p2 - p1)} accuracy; full fine-tuning vs phase 2: "
        f"{_signed(full.test_accuracy - p2)}",
        f"   a phase-1 epoch (frozen base, cached features) took {speed:,.0f}x less time than "
        f"a full fine-tuning epoch ({seconds(runs['phase1'].steady_epoch_seconds)} vs "
        f"{seconds(full.steady_epoch_seconds)})",
    ]
    if runs["phase1"].grown is not None and full.grown is not None:
        lines.append(f"   memory added once fit started: phase 1 {mib(runs['phase1'].grown)}, "
                     f"full fine-tuning {mib(full.grown)}")
    return lines
