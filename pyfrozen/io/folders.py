"""Folders written all or nothing: build a temporary sibling, then rename it into place.

A model saved as several files (a tfjs ``model.json`` and its shards) must never be seen
half-written: the files go to a hidden temporary folder next to the target, are fsync'ed,
and the folder is renamed to the target's name. An existing target is replaced only when
it holds nothing but files the writer itself would write (``replaceable``), so a typo'd
path never deletes a user's folder; it is moved aside first and removed after the new one
is in place, so a crash in between leaves the old folder under a hidden name, never a mix.
Leftovers of a writer that no longer runs on this host are removed by the next write to
the same target: its temporary folder (``.<name>.<pid>.<random>.tmp``), and the old
folder it moved aside (``...tmp.old``) only when the target exists, since a crash between
the two renames leaves that old folder as the only complete copy.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator

from pyfrozen.io.files import _process_alive

__all__ = ["atomic_folder"]


def _remove_stale_temporaries(parent: str, name: str) -> None:
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{16}}\.tmp(?:\.old)?")
    with contextlib.suppress(OSError):
        for entry in os.listdir(parent):
            match = pattern.fullmatch(entry)
            if not match or _process_alive(int(match[1])):
                continue
            if not entry.endswith(".old") or os.path.isdir(os.path.join(parent, name)):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _check_target(path: str, replaceable: Callable[[str], bool]) -> None:
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        raise FileExistsError(f"{path!r} exists and is not a folder; refusing to replace it")
    foreign = sorted(n for n in os.listdir(path) if not replaceable(n))
    if foreign:
        raise FileExistsError(f"{path!r} exists and holds files this export would not write "
                              f"({', '.join(foreign[:5])}); refusing to replace it: choose "
                              "an empty or new folder")


def _fsync_path(path: str) -> None:
    # A folder's entries are durable only once the folder itself is fsync'ed; some file
    # systems refuse that, and then there is nothing more to do.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_folder(path: str, replaceable: Callable[[str], bool],
                  overwrite: bool = True) -> Iterator[str]:
    """Context manager: yields a temporary folder to fill; on success it becomes ``path``.

    On any exception (Ctrl-C included) the temporary folder is removed and ``path`` is
    left as it was.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False, or it is a file, or a
            folder holding a file that ``replaceable`` refuses.
    """
    target = os.path.abspath(os.fspath(path))
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    _check_target(target, replaceable)
    parent, name = os.path.split(target)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {path!r}: the folder {parent!r} does not exist")
    _remove_stale_temporaries(parent, name)
    tmp = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    os.mkdir(tmp)
    try:
        yield tmp
        _fsync_path(tmp)
        _check_target(target, replaceable)  # again: it may have changed meanwhile
        old = None
        if os.path.lexists(target):
            old = f"{tmp}.old"
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:  # put the old folder back
                os.rename(old, target)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
