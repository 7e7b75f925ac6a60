"""The thread count's bounds, and kernels after fork() (csrc/src/threads.cpp).

Each scenario that used to crash or hang runs in its own Python process, under a
timeout and in its own session (so a hung forked grandchild is killed too): a
regression fails here instead of taking the test run down or stalling it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import pyfrozen

TIMEOUT = 60

# Shared by the scripts: a kernel big enough to open a 2-thread region, and its result.
PRELUDE = """
import os, sys, threading
import numpy as np
import pyfrozen
from pyfrozen import _core
a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
def kernel():
    return _core.gemm(a, a)
"""


def run_script(body: str, tmp_path) -> subprocess.CompletedProcess:
    """Runs PRELUDE + body in a fresh interpreter; fails the test on a hang."""
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the forked children too
        out, err = proc.communicate()
        pytest.fail(f"hung for {TIMEOUT} s (killed); output so far: {out!r} {err!r}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ---- bounds -------------------------------------------------------------------------------


def test_thread_count_has_an_upper_bound_named_in_the_error():
    limit = pyfrozen._core.max_num_threads()
    assert limit >= 64 and limit >= 4 * (os.cpu_count() or 1)
    before = pyfrozen.get_num_threads()
    with pytest.raises(ValueError, match=rf"n must be <= {limit} .*got {limit + 1}"):
        pyfrozen.set_num_threads(limit + 1)
    assert pyfrozen.get_num_threads() == before  # a rejected value changes nothing
    pyfrozen.set_num_threads(limit)  # the bound itself is accepted
    assert pyfrozen.get_num_threads() == limit
    pyfrozen.set_num_threads(before)


def test_a_huge_thread_count_is_refused_not_a_crash(tmp_path):
    # Used to be accepted, then the next kernel died with SIGSEGV inside libgomp.
    proc = run_script("""
        try:
            pyfrozen.set_num_threads(10**5)
        except ValueError as e:
            print("refused:", e)
        print("kernel ok:", bool(np.isfinite(kernel()).all()))
    """, tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "refused: set_num_threads: n must be <= " in proc.stdout
    assert "kernel ok: True" in proc.stdout


def test_a_count_the_system_cannot_start_is_refused(tmp_path):
    # With too little address space for the worker stacks, libgomp would end the process
    # when the next kernel starts its team. set_num_threads tries the threads first.
    if not pyfrozen.has_openmp():
        pytest.skip("core built without OpenMP: no worker threads to start")
    proc = run_script("""
        import resource
        def vm_size():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        limit = vm_size() + (64 << 20)  # room for a few 8 MiB stacks, not for 63
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            pyfrozen.set_num_threads(_core.max_num_threads())
            print("accepted")
        except RuntimeError as e:
            print("refused:", e)
        print("threads:", pyfrozen.get_num_threads())
        print("kernel ok:", bool(np.isfinite(kernel()).all()))
    """, tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "refused: set_num_threads: the system could not start" in proc.stdout
    assert "kernel ok: True" in proc.stdout


# ---- fork ---------------------------------------------------------------------------------


def test_a_forked_child_runs_kernels_after_a_threaded_kernel(tmp_path):
    # libgomp's pool does not survive fork: the child's first threaded kernel used to wait
    # forever for workers that no longer exist. Now the forking thread runs single-
    # threaded in the child, and a thread the child starts gets a fresh pool.
    proc = run_script("""
        pyfrozen.set_num_threads(2)
        expected = kernel()
        pid = os.fork()
        if pid == 0:
            same = np.array_equal(kernel(), expected)
            seen = []
            t = threading.Thread(target=lambda: seen.append(np.array_equal(kernel(), expected)))
            t.start()
            t.join()
            os._exit(0 if same and seen == [True] else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit:", os.waitstatus_to_exitcode(status))
        print("parent ok:", np.array_equal(kernel(), expected))
    """, tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "child exit: 0" in proc.stdout and "parent ok: True" in proc.stdout


def test_a_fork_pool_runs_kernels(tmp_path):
    # The user-visible form of the hang: multiprocessing.Pool with the fork start method.
    proc = run_script("""
        import multiprocessing as mp
        pyfrozen.set_num_threads(2)
        expected = kernel()
        def work(i):
            return float(kernel()[i, i])
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, range(4))
        print("pool ok:", got == [float(expected[i, i]) for i in range(4)])
    """, tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "pool ok: True" in proc.stdout
