"""Tables for ``bench/``: markdown for RESULTS.md, aligned text for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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


# ****** tables read back from a script's markdown output ******


@dataclass
class Table:
    """One table a script printed: its title, machine line, headers and rows.

    ``before``: paragraphs printed between the previous table and this one's title
    (e.g. the allocator in use).
    """

    title: str
    machine: str
    headers: list[str]
    rows: list[list[str]]
    before: list[str] = field(default_factory=list)

    def render(self, markdown: bool, heading: str = "####") -> str:
        """The title, the machine line and the table, as text or markdown."""
        parts = [*self.before]
        if self.title:
            parts.append(f"{heading} {self.title}" if markdown else self.title)
        parts.append(f"Machine: {self.machine or 'not printed by the script'}")
        parts.append(table(self.headers, self.rows, markdown))
        return "\n\n".join(parts)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _paragraphs(lines: Sequence[str]) -> list[str]:
    """Blank-line separated paragraphs, each joined into one line."""
    out: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    return out


def parse_markdown_output(text: str) -> tuple[list[Table], list[str]]:
    """A script's ``--markdown`` output as tables, and the paragraphs after the last one.

    A table is a run of lines starting with ``|``; its title is the paragraph right
    before it (markdown heading marks removed), its machine line the last
    ``Machine: ...`` line printed before it.
    """
    tables: list[Table] = []
    machine, pending = "", []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Machine: "):
            machine = line[len("Machine: "):].strip()
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(_cells(lines[i]))
                i += 1
            paragraphs = _paragraphs(pending)
            title = paragraphs.pop().lstrip("#").strip() if paragraphs else ""
            tables.append(Table(title, machine, block[0], block[2:], paragraphs))
            pending = []
            continue
        else:
            pending.append(line)
        i += 1
    return tables, _paragraphs(pending)
