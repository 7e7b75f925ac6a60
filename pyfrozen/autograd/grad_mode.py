"""Switches for recording: no_grad / enable_grad / inference_mode, and layer scopes."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pyfrozen.autograd import tape


class _Switch(contextlib.ContextDecorator):
    """Sets a per-thread mode of the tape to ``_value`` on entry and restores it on exit.

    The previous values are kept on a stack, not in one slot: the same instance is
    entered again when it decorates a recursive function (ContextDecorator reuses it)
    or is nested with itself. The stack is per thread, like the mode itself: a
    decorated function called by two threads at once enters the same instance twice.
    A fresh switch is made for every layer call (name_scope) and optimizer step
    (no_grad), so the first entry takes a plain slot (and its thread); only re-entries
    use stacks keyed by thread id (a threading.local would cost a microsecond to create).
    """

    _swap = staticmethod(tape.set_grad_enabled)  # sets the mode, returns the previous one
    _value: Any = False

    def __enter__(self) -> None:
        slots = self.__dict__
        if "_previous" not in slots:  # the common case: entered once at a time
            slots["_previous"] = self._swap(self._value)
            slots["_owner"] = threading.get_ident()
            return
        stacks = slots.setdefault("_stacks", {})
        stacks.setdefault(threading.get_ident(), []).append(self._swap(self._value))

    def __exit__(self, *exc: Any) -> None:
        # Exits are LIFO within a thread: this thread's stack first, then the slot.
        slots = self.__dict__
        stacks = slots.get("_stacks")
        ident = threading.get_ident()
        stack = stacks.get(ident) if stacks else None
        if stack:
            previous = stack.pop()
            if not stack:
                del stacks[ident]  # thread ids are reused: leave nothing behind
        else:
            previous = slots.pop("_previous")
            del slots["_owner"]
        self._swap(previous)


class no_grad(_Switch):  # noqa: N801 (torch's name)
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


class enable_grad(_Switch):  # noqa: N801
    """Turns recording back on inside a ``no_grad`` block (in the calling thread)."""

    _value = True


class inference_mode(no_grad):  # noqa: N801
    """Same as :class:`no_grad` here (torch's inference mode also skips view and
    version tracking; pyfrozen's tracking costs nothing to skip)."""


def is_grad_enabled() -> bool:
    """Whether ops are being recorded in the calling thread."""
    return tape.is_grad_enabled()


class name_scope(_Switch):  # noqa: N801
    """Labels the ops the calling thread records inside with a layer name (``trace()``)."""

    _swap = staticmethod(tape.set_scope)

    def __init__(self, name: str) -> None:
        self.name = self._value = name
