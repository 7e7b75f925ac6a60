"""Switches for recording: no_grad / enable_grad / inference_mode, and layer scopes."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pyfrozen.autograd import tape


class _Switch(contextlib.ContextDecorator):
    """Sets a per-thread mode of the tape on entry and restores it on exit.

    The previous values are kept on a stack, not in one slot: the same instance is
    entered again when it decorates a recursive function (ContextDecorator reuses it)
    or is nested with itself. The stack is per thread, like the mode itself: a
    decorated function called by two threads at once enters the same instance twice.
    """

    def _set(self) -> Any:
        raise NotImplementedError

    def _restore(self, previous: Any) -> None:
        raise NotImplementedError

    def _stack(self) -> list[Any]:
        local = self.__dict__.get("_local")
        if local is None:
            local = self.__dict__.setdefault("_local", threading.local())
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        return stack

    def __enter__(self) -> None:
        self._stack().append(self._set())

    def __exit__(self, *exc: Any) -> None:
        self._restore(self._stack().pop())


class _GradSwitch(_Switch):
    _enabled = False

    def _set(self) -> bool:
        return tape.set_grad_enabled(self._enabled)

    def _restore(self, previous: bool) -> None:
        tape.set_grad_enabled(previous)


class no_grad(_GradSwitch):  # noqa: N801 (torch's name)
    """Inside this context (or decorated function) no op is recorded.

    Results require no gradient and nothing is saved, whatever the inputs'
    ``requires_grad``. The setting belongs to the calling thread, as in PyTorch:
    another thread keeps recording, and a new thread starts with recording on.

    >>> import pyfrozen
    >>> w = pyfrozen.tensor([2.0], requires_grad=True)
    >>> with pyfrozen.no_grad():
    ...     y = w * 3
    >>> y.requires_grad
    False
    """


class enable_grad(_GradSwitch):  # noqa: N801
    """Turns recording back on inside a ``no_grad`` block (in the calling thread)."""

    _enabled = True


class inference_mode(no_grad):  # noqa: N801
    """Same as :class:`no_grad` here (torch's inference mode also skips view and
    version tracking; pyfrozen's tracking costs nothing to skip)."""


def is_grad_enabled() -> bool:
    """Whether ops are being recorded in the calling thread."""
    return tape.is_grad_enabled()


class name_scope(_Switch):  # noqa: N801
    """Labels the ops the calling thread records inside with a layer name (``trace()``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _set(self) -> Any:
        return tape.set_scope(self.name)

    def _restore(self, previous: Any) -> None:
        tape.set_scope(previous)
