"""Progbar: Keras's progress bar (steps, bar, ETA, time per step, metrics).

On a terminal (or in a notebook) the line is redrawn in place as batches finish; when
stdout is not a terminal (a log file, CI, a pipe) only the final line of each epoch
is written, so a log gets one line per epoch instead of one per redraw. ``verbose=2``
writes that one line per epoch in any case, without the bar.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any


def _format_value(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    return f" {value:.4f}" if abs(value) > 1e-3 else f" {value:.4e}"


def _format_time(per_unit: float, unit: str) -> str:
    if per_unit >= 1 or per_unit == 0:
        return f" {per_unit:.0f}s/{unit}"
    if per_unit >= 1e-3:
        return f" {per_unit * 1e3:.0f}ms/{unit}"
    return f" {per_unit * 1e6:.0f}us/{unit}"


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return f"{eta // 3600:.0f}:{(eta % 3600) // 60:02.0f}:{eta % 60:02.0f}"
    if eta > 60:
        return f"{eta // 60:.0f}:{eta % 60:02.0f}"
    return f"{eta:.0f}s"


def _color(text: str, code: str, on: bool) -> str:
    # ANSI colours only where the line is redrawn on a terminal; a log file stays plain.
    return f"\x1b[{code}m{text}\x1b[0m" if on and text else text


def _bold(text: str, on: bool) -> str:
    return _color(text, "1", on)


class Progbar:
    """Displays a progress bar (``keras.utils.Progbar``).

    Args:
        target: total number of steps, None if unknown.
        width: bar width in characters.
        verbose: 0 silent, 1 bar, 2 one line at the end.
        interval: minimum seconds between redraws.
        stateful_metrics: names shown as given; others are averaged over the updates.
        unit_name: "step" or "sample".
        stream: where to write (default ``sys.stdout``, looked up at each write).
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1,
                 interval: float = 0.05, stateful_metrics: Any = None, unit_name: str = "step",
                 stream: Any = None) -> None:
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self._stream = stream
        out = self.stream
        self._dynamic = (hasattr(out, "isatty") and out.isatty()) or "ipykernel" in sys.modules
        self._values: dict[str, list[float]] = {}
        self._order: list[str] = []
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._after_first: float | None = None
        self._prev_width = 0

    @property
    def stream(self) -> Any:
        return self._stream if self._stream is not None else sys.stdout

    def update(self, current: int, values: list[tuple[str, Any]] | None = None,
               finalize: bool | None = None) -> None:
        """Moves the bar to step ``current`` with ``(name, value)`` pairs for this step."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for key, value in values or []:
            if key not in self._order:
                self._order.append(key)
            if key in self.stateful_metrics or finalize:
                self._values[key] = [value, 1]
            else:
                base = max(current - self._seen, 1)
                total = self._values.setdefault(key, [0.0, 0])
                total[0] += value * base
                total[1] += base
        self._seen = current
        now = time.time()
        per_unit = self._step_time(current, now)
        if self.verbose == 1:
            if (now - self._last_update < self.interval and not finalize) or (
                    not self._dynamic and not finalize):
                return
            self._write_bar(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize:
            self._write_line(current, now, per_unit)
        self._last_update = now

    def add(self, n: int, values: list[tuple[str, Any]] | None = None) -> None:
        self.update(self._seen + n, values)

    def _metrics(self) -> str:
        info = ""
        for key in self._order:
            total, count = self._values[key]
            info += f" - {key}:" + _format_value(total / max(1, count))
        return info

    def _write_bar(self, current: int, now: float, per_unit: float, finalize: bool) -> None:
        if self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            done = int(self.width * min(current / self.target, 1.0))
            plain = f"{current:{digits}d}/{self.target} " + "━" * self.width
            bar = (f"{_bold(f'{current:{digits}d}/{self.target}', self._dynamic)} "
                   + _color("━" * done, "32", self._dynamic)
                   + _color("━" * (self.width - done), "37", self._dynamic))
        else:
            plain = bar = f"{current:7d}/Unknown"
        if self.target is not None and self.target > 0 and not finalize:
            clock = _format_eta(per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        clock = f" {_bold(clock, self._dynamic)}"
        info = clock + _format_time(per_unit, self.unit_name) + self._metrics()
        width = len(plain) + len(info) - (8 if self._dynamic else 0)
        message = ("\b" * self._prev_width + "\r") if self._dynamic else ""
        message += bar + info
        if self._prev_width > width:
            message += " " * (self._prev_width - width)
        if finalize:
            message += "\n"
        self.stream.write(message)
        self.stream.flush()
        self._prev_width = width

    def _write_line(self, current: int, now: float, per_unit: float) -> None:
        if self.target is None or self.target <= 0:
            return
        digits = int(math.log10(self.target)) + 1
        line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
        line += _format_time(per_unit, self.unit_name) + self._metrics()
        self.stream.write(line + "\n")
        self.stream.flush()

    def _step_time(self, current: int, now: float) -> float:
        # The first step (warm-up) is left out of the estimate once there are more.
        if not current:
            return 0.0
        if self._after_first is not None and current > 1:
            per_unit = (now - self._after_first) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._after_first = now
        return per_unit
