"""Tables for ``bench/``: markdown for RESULTS.md, aligned text for the terminal."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; the first column left-aligned, the rest right-aligned."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _text_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """First cell left-aligned, the rest right-aligned."""
    padded = [cells[0].ljust(widths[0])]
    padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(padded)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain table with aligned columns for the terminal."""
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    lines.insert(1, ["-" * w for w in widths])
    return "\n".join(_text_row(line, widths) for line in lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """``markdown_table`` or ``text_table``."""
    return markdown_table(headers, rows) if markdown else text_table(headers, rows)
