"""Switches for recording: no_grad / enable_grad / inference_mode, and layer scopes."""

from __future__ import annotations

import contextlib
from typing import Any

from pyfrozen.autograd import tape


def _push(cm: Any, previous: Any) -> None:
    # A stack, not one slot: the same instance is entered again when it decorates a
    # recursive function (ContextDecorator reuses it) or is nested with itself.
    cm.__dict__.setdefault("_previous", []).append(previous)


class no_grad(contextlib.ContextDecorator):  # noqa: N801 (torch's name)
    """Inside this context (or decorated function) no op is recorded.

    Results require no gradient and nothing is saved, whatever the inputs'
    ``requires_grad``. The setting is process-wide, not per thread.

    >>> import pyfrozen
    >>> w = pyfrozen.tensor([2.0], requires_grad=True)
    >>> with pyfrozen.no_grad():
    ...     y = w * 3
    >>> y.requires_grad
    False
    """

    def __enter__(self) -> None:
        _push(self, tape.set_grad_enabled(False))

    def __exit__(self, *exc: Any) -> None:
        tape.set_grad_enabled(self._previous.pop())


class enable_grad(contextlib.ContextDecorator):  # noqa: N801
    """Turns recording back on inside a ``no_grad`` block."""

    def __enter__(self) -> None:
        _push(self, tape.set_grad_enabled(True))

    def __exit__(self, *exc: Any) -> None:
        tape.set_grad_enabled(self._previous.pop())


class inference_mode(no_grad):  # noqa: N801
    """Same as :class:`no_grad` here (torch's inference mode also skips view and
    version tracking; pyfrozen's tracking costs nothing to skip)."""


def is_grad_enabled() -> bool:
    """Whether ops are being recorded."""
    return tape.is_grad_enabled()


class name_scope(contextlib.ContextDecorator):  # noqa: N801
    """Labels the ops recorded inside with a layer name (shown by ``trace()``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        _push(self, tape.set_scope(self.name))

    def __exit__(self, *exc: Any) -> None:
        tape.set_scope(self._previous.pop())
