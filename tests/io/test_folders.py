"""io/folders.py: folders written all or nothing, foreign folders never replaced, leftovers
of dead writers removed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyfrozen.io.folders import atomic_folder


def ours(name: str) -> bool:
    return name.endswith(".bin")


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_the_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "out"
    with atomic_folder(str(target), ours) as folder:
        (tmp_path / "seen").write_text(str(os.path.exists(target)))
        with open(os.path.join(folder, "a.bin"), "wb") as f:
            f.write(b"1")
    assert (tmp_path / "seen").read_text() == "False"
    assert sorted(os.listdir(target)) == ["a.bin"]
    assert sorted(os.listdir(tmp_path)) == ["out", "seen"]


def test_an_exception_leaves_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(str(target), ours) as folder:
        with open(os.path.join(folder, "new.bin"), "wb") as f:
            f.write(b"new")
        raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert sorted(os.listdir(target)) == ["old.bin"]


def test_leftovers_of_dead_writers_are_removed(tmp_path):
    pid = dead_pid()
    half = tmp_path / f".out.{pid}.{'a' * 16}.tmp"
    half.mkdir()
    moved = tmp_path / f".out.{pid}.{'b' * 16}.tmp.old"
    moved.mkdir()
    alive = tmp_path / f".out.{os.getpid()}.{'c' * 16}.tmp"  # a concurrent writer: kept
    alive.mkdir()
    with atomic_folder(str(tmp_path / "out"), ours):
        pass
    # The moved-aside folder is the only copy while the target is missing: kept.
    assert not half.exists() and moved.exists() and alive.exists()
    with atomic_folder(str(tmp_path / "out"), ours):
        pass
    assert not moved.exists() and alive.exists()
