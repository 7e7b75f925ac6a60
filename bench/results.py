"""What ``run.py`` keeps of a run: the headline-ratio chart and RESULTS.md's current section.

The current-results section sits between two markers in ``bench/RESULTS.md`` and is
replaced as a whole; the hand-written history below it is never touched.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BEGIN = "<!-- run.py: current results begin (generated, do not edit by hand) -->"
END = "<!-- run.py: current results end -->"
RATIO_HEADERS = ("torch/pyfrozen", "pyfrozen/numpy", "pyfrozen/torch",
                 "torch merged / pyfrozen", "torch factored / pyfrozen")  # the last: bench_lora
"""Columns holding a speed ratio with > 1 meaning pyfrozen is faster."""
HEADLINES = (
    r"square 1024\^3 \[pyfrozen/numpy\]",
    r"dense 4096->1000 .*Y=X@W \(NN\) \[pyfrozen/numpy\]",
    r"im2col .*Y=X@W \(NN\) \[pyfrozen/numpy\]",
    r"alpha 1, .*\| (inference|full step|base frozen|top 2 blocks \+ head) .*\[torch/pyfrozen\]",
    r"recorded op .*\[torch/pyfrozen\]",
    r"LoRA rank 8 \[torch factored / pyfrozen\]",
)
"""The ratios the chart shows (issue 14's targets), matched against ``ratio_label``."""


def ratio_label(record: dict[str, Any], t: dict[str, Any], row: Sequence[str],
                header: str) -> str:
    """``script (threads, mode) | table title | row name [ratio column]``; the second
    cell joins the row name unless it is a number or ratio (``square 1024^3``)."""
    where = record.get("short", record["label"])
    plain = len(row) < 2 or re.match(r"[\d.,]+(x\b|\s|$)", row[1])
    name = row[0] if plain else f"{row[0]} {row[1]}"
    title = t["title"].split(":", 1)[-1].strip()
    return f"{where} | {title} | {name} [{header}]"


def headline_ratios(records: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    """(label, median ratio) of every speed-ratio column of every table of a run."""
    found = []
    for record in records:
        for t in record.get("tables", []):
            for col, header in enumerate(t["headers"]):
                if header not in RATIO_HEADERS:
                    continue
                for row in t["rows"]:
                    number = re.match(r"\s*([0-9.]+)", row[col])
                    if number:
                        found.append((ratio_label(record, t, row, header),
                                      float(number.group(1))))
    return found


def write_chart(records: Sequence[dict[str, Any]], path: Path) -> str:
    """A PNG bar chart of ``headline_ratios`` at ``path``; the line to print about it."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: write files only
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart: matplotlib not importable, no PNG written (pip install matplotlib)"
    every = headline_ratios(records)
    if not every:
        return "chart: no speed-ratio column in this run, no PNG written"
    # The headline ratios when the run has them (a --smoke run may not): all otherwise.
    ratios = [r for r in every if any(re.search(h, r[0]) for h in HEADLINES)] or every
    labels, values = zip(*ratios, strict=True)
    fig, ax = plt.subplots(figsize=(14, 0.3 * len(ratios) + 1.5))
    ax.barh(range(len(values)), values, color=["tab:green" if v >= 1 else "tab:red"
                                               for v in values])
    ax.axvline(1.0, color="black", linewidth=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=7)
    ax.set_yticks(range(len(labels)), [label[:150] for label in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed ratio, > 1: pyfrozen faster (median of same-run ratios)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart: {len(ratios)} of the run's {len(every)} ratios written to {path}"


def update_results(path: Path, section: str) -> None:
    """Replace the current-results section of ``path`` (or insert it before the first
    ``## `` heading), keeping everything else byte for byte."""
    text = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{section.strip()}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = f"{head}{block}\n{tail}"
    else:
        at = text.find("\n## ")
        at = len(text) if at < 0 else at + 1
        new = f"{text[:at]}{block}\n{text[at:]}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)  # never a half-written RESULTS.md


def repeat_summary(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per script and speed-ratio column: each row's median ratio over ``--repeat`` runs.

    Records of one script differ only by their ``run k/N`` label suffix; tables and rows
    are matched by position (each run prints the same tables). Returned as table dicts
    (``report.Table`` fields).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        base, _, run = record["label"].rpartition(", run ")
        if run and record.get("tables"):
            groups.setdefault(base, []).append(record)
    summaries = []
    for base, runs in groups.items():
        rows = []
        for i, t in enumerate(runs[0]["tables"]):
            for col, header in enumerate(t["headers"]):
                if header not in RATIO_HEADERS:
                    continue
                for r, row in enumerate(t["rows"]):
                    values = [float(m.group(1)) for run in runs
                              if (m := re.match(r"\s*([0-9.]+)", run["tables"][i]["rows"][r][col]))]
                    if values:
                        values.sort()
                        rows.append([f"{row[0]} [{header}]", f"{statistics.median(values):.2f}x",
                                     f"{values[0]:.2f}-{values[-1]:.2f}", str(len(values))])
        if rows:
            summaries.append({"title": f"{base}: speed ratios over {len(runs)} runs",
                              "machine": runs[0]["tables"][0]["machine"],
                              "headers": ["row [ratio]", "median of run medians", "min-max",
                                          "runs"], "rows": rows, "before": []})
    return summaries
