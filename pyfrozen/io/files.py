"""Files written all or nothing and read only when they are regular files.

``pyfrozen.io.weights`` stores through these: a crash mid-write never leaves a half file
in place of a good one, a writer killed mid-write leaves no garbage for good, and a read
never blocks on a FIFO or runs forever on a device.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import stat
import time

__all__ = ["read_regular_file", "write_atomically"]

# --------------------------------------------------------------------------- writing


def _write_fully(fd: int, data: bytes) -> None:
    # os.write may write less than asked (signals, large buffers): loop until done.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable. Some file systems refuse fsync on a folder: the data is
    # already on disk then, so that refusal is not an error.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Temporary files are named ``.<target name>.<host>.<pid>.<random>.tmp`` next to the target, so
# a later save to the same target can tell whose they are. A writer killed mid-save (SIGKILL,
# power loss) cannot remove its own; the next save removes those of the same target whose
# writer is gone: written on this host by a process id that no longer exists. A temporary
# of a live process (a concurrent save, maybe in this very process) is never touched: the
# pid check sees it alive. Another host's writer cannot be checked (a shared folder), so
# its temporaries, and legacy ones with no pid in the name, go only once older than a day,
# far longer than any save takes.
_TMP_PATTERN = r"\.{name}\.(?:(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.)?[0-9a-f]{{16}}\.tmp"
_STALE_AGE_S = 24 * 3600.0
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _temp_path(target: str) -> str:
    name = f".{os.path.basename(target)}.{_HOST}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    return os.path.join(os.path.dirname(target), name)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to another user
        return True
    return True


def _is_stale(path: str, host: str | None, pid: str | None) -> bool:
    if host == _HOST and pid is not None and os.name == "posix":
        return not _process_alive(int(pid))
    try:
        return time.time() - os.stat(path, follow_symlinks=False).st_mtime > _STALE_AGE_S
    except OSError:
        return False


def _remove_stale_temporaries(target: str) -> None:
    """Removes temporaries of ``target`` left by writers that died mid-save (see above)."""
    directory = os.path.dirname(target)
    pattern = re.compile(_TMP_PATTERN.format(name=re.escape(os.path.basename(target))))
    try:
        names = os.listdir(directory)
    except OSError:
        return  # an unreadable folder: the write itself will report what is wrong
    for name in names:
        match = pattern.fullmatch(name)
        path = os.path.join(directory, name)
        if match and _is_stale(path, match["host"], match["pid"]):
            with contextlib.suppress(OSError):  # another saver may have removed it already
                os.unlink(path)


def _resolve_target(path: str) -> str:
    """The file to replace: a symlink's final target (the link itself stays a link)."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def _create_temp(tmp: str, path: str) -> int:
    try:
        # 0o666 & ~umask, like an ordinary new file (mkstemp would force 0o600).
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                       0o666)
    except OSError as err:
        # The temporary's name means nothing to the caller: name the path they gave.
        folder = os.path.dirname(tmp)
        reason = (f"the folder {folder!r} does not exist" if not os.path.isdir(folder)
                  else err.strerror)
        raise type(err)(err.errno, f"cannot write the weight file: {reason}", path) from None


def write_atomically(path: str, data: bytes) -> None:
    """Replaces the file at ``path`` with ``data``, all or nothing.

    ``data`` goes to a temporary file in the target's folder, is fsync'ed and renamed over
    the target, then the folder is fsync'ed. On any failure (Ctrl-C included) the old file
    is untouched and the temporary file removed. A symlink stays a symlink: the file it
    points to is replaced. Temporaries of the same target left by a writer that was killed
    mid-write are removed first (see the naming note above).

    Raises:
        OSError: the file could not be written; it names ``path``, never the temporary.
    """
    target = _resolve_target(path)
    directory = os.path.dirname(target)
    _remove_stale_temporaries(target)
    tmp = _temp_path(target)
    fd = _create_temp(tmp, path)
    try:
        try:
            _write_fully(fd, data)
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))  # keep an old file's mode
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        # Whatever went wrong (including Ctrl-C), the old file is untouched: drop the temp file.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


# --------------------------------------------------------------------------- reading


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def _check_regular(path: str, mode: int, error: type[Exception]) -> None:
    # A FIFO would block the reader forever and /dev/zero never ends: only a regular file
    # has a known size that a stored file can be.
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise error(f"{path!r} is {kind}, not a regular file: refusing to read it")


def read_regular_file(path: str, error: type[Exception] = ValueError) -> bytes:
    """The whole content of the regular file ``path`` (symlinks followed).

    Anything else (a FIFO, a device such as ``/dev/zero``, a folder, a socket) raises
    ``error`` naming what it is. The check runs before opening and again on the open file
    (``fstat``); the open is non-blocking, so a FIFO swapped in between cannot block it.

    Raises:
        error: ``path`` is not a regular file.
        OSError: it cannot be opened (missing, no permission).
    """
    _check_regular(path, os.stat(path).st_mode, error)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        _check_regular(path, os.fstat(fd).st_mode, error)
        return f.read()
