"""pyfrozen.io.files: all-or-nothing writes (through save_arrays, their one user), leftovers
of killed writers, symlinks, and reads that refuse what is not a regular file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyfrozen.io import files
from pyfrozen.io.weights import WeightFileError, load_arrays, save_arrays


@pytest.fixture
def arrays(rng) -> dict[str, np.ndarray]:
    return {"conv/kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
            "dense/kernel": rng.standard_normal((16, 10))}


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def spy_on_replace(monkeypatch) -> list[tuple[Path, Path]]:
    """The (source, destination) of every os.replace the module makes, still made."""
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    return calls


# --------------------------------------------------------------------------- atomic writes


def test_failure_mid_write_keeps_the_old_file(tmp_path, arrays, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    before = path.read_bytes()

    def half_then_fail(fd, data):
        os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "_write_fully", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_arrays(path, {"other": np.ones(1000)})
    assert path.read_bytes() == before
    assert leftovers(tmp_path, keep=path.name) == []
    assert sorted(load_arrays(path).arrays) == sorted(arrays)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failure_at_fsync_or_rename_keeps_the_old_file(tmp_path, arrays, monkeypatch, step):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    before = path.read_bytes()

    def fail(*args):
        raise OSError(5, f"simulated {step} failure")

    monkeypatch.setattr(files.os, step, fail)
    with pytest.raises(OSError, match=f"simulated {step} failure"):
        save_arrays(path, {"other": np.ones(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path, keep=path.name) == []


def test_interrupt_mid_write_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"

    def interrupted(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "_write_fully", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_arrays(path, {"w": np.ones(3)})
    assert list(tmp_path.iterdir()) == []


def test_write_is_a_rename_in_the_same_folder(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    calls = spy_on_replace(monkeypatch)
    save_arrays(path, {"w": np.ones(3)})
    [(src, dst)] = calls
    assert dst == path and src.parent == tmp_path and src.name.startswith(".w.safetensors.")


def test_overwrite_keeps_the_file_mode(tmp_path):
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"w": np.ones(3)})
    path.chmod(0o640)
    save_arrays(path, {"w": np.zeros(3)})
    assert path.stat().st_mode & 0o777 == 0o640
    np.testing.assert_array_equal(load_arrays(path).arrays["w"], np.zeros(3))


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(files.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"w": np.arange(100.0)})
    monkeypatch.undo()
    np.testing.assert_array_equal(load_arrays(path).arrays["w"], np.arange(100.0))


# --------------------------------------------------------------------------- killed writers

_KILLED_WRITER = """
import os, sys, time
import numpy as np
from pyfrozen.io import files
from pyfrozen.io.weights import save_arrays

def half_then_hang(fd, data):
    os.write(fd, bytes(data[: len(data) // 2]))
    print("writing", flush=True)
    time.sleep(600)

files._write_fully = half_then_hang
save_arrays(sys.argv[1], {"w": np.ones(100_000)})
"""


def start_writer(path: Path) -> subprocess.Popen:
    """A process stopped half-way through save_arrays(path) (installed pyfrozen: cwd elsewhere)."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)],
                            cwd=path.parent, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_save_removes_the_temporary_of_a_writer_killed_mid_save(tmp_path):
    path = tmp_path / "w.safetensors"
    writer = start_writer(path)
    writer.kill()  # SIGKILL: no handler runs, the temporary stays
    writer.wait()
    writer.stdout.close()
    [left] = temporaries(tmp_path)
    assert left.startswith(".w.safetensors.") and f".{writer.pid}." in left
    save_arrays(path, {"w": np.zeros(3)})
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(load_arrays(path).arrays["w"], np.zeros(3))


def test_a_save_keeps_a_live_writers_temporary(tmp_path):
    path = tmp_path / "w.safetensors"
    writer = start_writer(path)
    try:
        live = temporaries(tmp_path)
        save_arrays(path, {"w": np.zeros(3)})  # the concurrent writer is still at work
        assert temporaries(tmp_path) == live
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    host, dead = files._HOST, dead_pid()
    stale = f".w.safetensors.{host}.{dead}.{'a' * 16}.tmp"
    own = f".w.safetensors.{host}.{os.getpid()}.{'b' * 16}.tmp"  # another thread's save
    other_target = f".v.safetensors.{host}.{dead}.{'c' * 16}.tmp"
    other_host_fresh = f".w.safetensors.elsewhere.{dead}.{'d' * 16}.tmp"
    other_host_old = f".w.safetensors.elsewhere.{dead}.{'e' * 16}.tmp"
    legacy_old = f".w.safetensors.{'f' * 16}.tmp"  # no host and pid: judged by age
    not_ours = f".w.safetensors.{host}.{dead}.notatemp"
    for name in (stale, own, other_target, other_host_fresh, other_host_old, legacy_old,
                 not_ours):
        (tmp_path / name).write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    for name in (other_host_old, legacy_old):
        os.utime(tmp_path / name, (two_days_ago, two_days_ago))
    save_arrays(tmp_path / "w.safetensors", {"w": np.zeros(3)})
    assert leftovers(tmp_path, keep="w.safetensors") == sorted(
        [own, other_target, other_host_fresh, not_ours])


# --------------------------------------------------------------------------- symlinks, folders


def test_save_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "w.safetensors"
    save_arrays(target, {"w": np.ones(3)})
    target.chmod(0o640)
    link = tmp_path / "links" / "current.safetensors"
    link.symlink_to(os.path.join("..", "real", "w.safetensors"))  # relative, as `ln -s` users do
    save_arrays(link, {"w": np.zeros(3)})
    assert link.is_symlink() and link.resolve() == target.resolve()
    np.testing.assert_array_equal(load_arrays(target).arrays["w"], np.zeros(3))
    assert target.stat().st_mode & 0o777 == 0o640
    assert list((tmp_path / "links").iterdir()) == [link]
    assert leftovers(tmp_path / "real", keep="w.safetensors") == []


def test_save_through_a_symlink_is_a_rename_onto_the_target(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "w.safetensors"
    link = tmp_path / "w.safetensors"
    link.symlink_to(target)  # dangling until the first save, as for open(link, "w")
    calls = spy_on_replace(monkeypatch)
    save_arrays(link, {"w": np.ones(3)})
    [(src, dst)] = calls
    assert dst == target.resolve() and src.parent == target.resolve().parent
    assert link.is_symlink() and target.is_file()


def test_save_into_a_missing_folder_names_the_given_path(tmp_path):
    path = tmp_path / "nope" / "w.safetensors"
    with pytest.raises(FileNotFoundError, match="folder .*nope' does not exist") as info:
        save_arrays(path, {"w": np.ones(3)})
    assert info.value.filename == str(path)
    assert ".tmp" not in str(info.value)


def test_a_refused_temporary_names_the_given_path(tmp_path, monkeypatch):
    # A read-only folder (simulated: the tests may run as root, who writes anyway).
    real_open = os.open

    def refuse_temporaries(path, flags, mode=0o777):
        if str(path).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(files.os, "open", refuse_temporaries)
    path = tmp_path / "w.safetensors"
    with pytest.raises(PermissionError, match="cannot write the weight file: Permission denied"
                       ) as info:
        save_arrays(path, {"w": np.ones(3)})
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)


# --------------------------------------------------------------------------- not regular files


def test_load_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(WeightFileError, match=r"is a FIFO \(named pipe\), not a regular file"):
        load_arrays(fifo)


def test_load_refuses_a_fifo_swapped_in_after_the_check(tmp_path, monkeypatch):
    # The path is checked, then opened: a FIFO put there in between must neither block the
    # open (O_NONBLOCK) nor be read (fstat on the open file).
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    regular = tmp_path / "regular"
    regular.write_bytes(b"")
    real_stat = os.stat
    def stat_says_regular(p, **kwargs):
        return real_stat(regular) if Path(p) == fifo else real_stat(p, **kwargs)

    monkeypatch.setattr(files.os, "stat", stat_says_regular)
    with pytest.raises(WeightFileError, match="is a FIFO"):
        load_arrays(fifo)


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"),
                                            ("/dev/null", "a character device")])
def test_load_refuses_devices(path, kind):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(WeightFileError, match=f"'{path}' is {kind}, not a regular file"):
        load_arrays(path)


def test_load_refuses_a_folder(tmp_path):
    with pytest.raises(WeightFileError, match="is a folder, not a regular file"):
        load_arrays(tmp_path)


def test_load_follows_a_symlink_to_a_regular_file(tmp_path):
    target = tmp_path / "w.safetensors"
    save_arrays(target, {"w": np.ones(3)})
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    np.testing.assert_array_equal(load_arrays(link).arrays["w"], np.ones(3))
