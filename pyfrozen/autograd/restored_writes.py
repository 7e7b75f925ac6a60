"""Writes that leave the version counters alone: one global count that caches key on.

A tensor's version counter (pyfrozen.autograd.tape.Version) counts its in-place changes:
backward refuses to use a saved array whose count moved, and caches keyed by versions
(LoRA's merged kernel, pyfrozen.layers.lora) see every change. gradcheck writes its
inputs and restores them bit for bit. Bumping their counters would make a graph recorded
before it refuse to run backward, though its saved arrays hold what they held;
restoring the counters afterwards would let a later, unrelated change bring a counter
back to a value that a cache entry formed on perturbed data carries (a stale hit). Such
writes advance this count instead, which only ever grows: a cache keyed by versions
also keys on it, so no entry formed before or during a restored write matches after it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()  # two threads' increments never lose one, the count never falls
_count = 0


def restored_writes() -> int:
    """How many restored writes happened so far (part of a version-keyed cache's key)."""
    return _count


def note_restored_write() -> None:
    """Tells version-keyed caches that some tensor's data changed behind its counter."""
    global _count
    with _lock:
        _count += 1
