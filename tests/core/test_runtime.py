"""Threads and instruction-set settings, and that the environment is honoured."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pyfrozen


def run_python(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_threads_round_trip(threads):
    assert pyfrozen.get_num_threads() == threads


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        pyfrozen.set_num_threads(0)


def test_threads_setting_holds_in_other_python_threads():
    import threading

    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(1)
    seen = []
    t = threading.Thread(target=lambda: seen.append(pyfrozen.get_num_threads()))
    t.start()
    t.join()
    pyfrozen.set_num_threads(before)
    assert seen == [1]


def test_omp_num_threads_is_the_default(tmp_path):
    proc = run_python("import pyfrozen; print(pyfrozen.get_num_threads())", tmp_path,
                      OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_openmp_is_built_in():
    assert pyfrozen.has_openmp()


def test_isa_round_trip(isa):
    assert pyfrozen.get_isa() == isa
    assert "generic" in pyfrozen.supported_isas()
    assert pyfrozen.detected_isa() in pyfrozen.supported_isas()


def test_unknown_isa_is_an_error():
    with pytest.raises(ValueError, match="unknown ISA 'sse9'.*'generic', 'avx2' or 'avx512'"):
        pyfrozen.set_isa("sse9")


def test_supported_isas_are_every_path_up_to_the_detected_one():
    paths = ["generic", "avx2", "avx512"]
    supported = pyfrozen.supported_isas()
    assert supported == paths[:paths.index(pyfrozen.detected_isa()) + 1]
    before = pyfrozen.get_isa()
    try:
        for name in paths[len(supported):]:  # paths beyond this CPU are refused
            with pytest.raises(ValueError, match=f"does not support {name}"):
                pyfrozen.set_isa(name)
            assert pyfrozen.get_isa() == before
    finally:
        pyfrozen.set_isa(before)


@pytest.mark.parametrize("name", ["avx2", "avx512"])
def test_environment_picks_a_path_below_the_detected_one(tmp_path, name):
    proc = run_python("import pyfrozen; print(pyfrozen.get_isa())", tmp_path, PYFROZEN_ISA=name)
    if name in pyfrozen.supported_isas():
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == name
    else:
        assert proc.returncode != 0 and f"PYFROZEN_ISA='{name}'" in proc.stderr


def test_environment_forces_generic(tmp_path):
    proc = run_python("import pyfrozen; print(pyfrozen.get_isa())", tmp_path,
                      PYFROZEN_ISA="generic")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "generic"


def test_bad_environment_value_fails_loudly(tmp_path):
    proc = run_python("import pyfrozen", tmp_path, PYFROZEN_ISA="avx9000")
    assert proc.returncode != 0
    assert "PYFROZEN_ISA='avx9000'" in proc.stderr


def test_cache_sizes_are_positive():
    sizes = pyfrozen.cache_sizes()
    assert set(sizes) == {"l1d", "l2", "l3"}
    assert all(v > 0 for v in sizes.values())


def test_blocking_follows_the_micro_tile():
    # (mr, nr) per path and dtype: AVX-512 has twice the registers, so twice the rows
    # and twice the lanes per vector.
    tiles = {"generic": {"float32": (6, 16), "float64": (6, 8)},
             "avx2": {"float32": (6, 16), "float64": (6, 8)},
             "avx512": {"float32": (12, 32), "float64": (12, 16)}}
    before = pyfrozen.get_isa()
    try:
        for isa in pyfrozen.supported_isas():
            pyfrozen.set_isa(isa)
            for dtype, (mr, nr) in tiles[isa].items():
                bl = pyfrozen._core.gemm_blocking(dtype)
                assert (bl["mr"], bl["nr"]) == (mr, nr), (isa, dtype, bl)
                assert bl["mc"] % bl["mr"] == 0 and bl["nc"] % bl["nr"] == 0, (isa, dtype, bl)
                assert 64 <= bl["kc"] <= 512
    finally:
        pyfrozen.set_isa(before)
    with pytest.raises(TypeError, match="dtype must be 'float32' or 'float64'"):
        pyfrozen._core.gemm_blocking("int8")


def test_cache_sizes_follow_sysfs_where_linux_reports_them():
    # glibc's sysconf reported 320 MiB of L3 on a 32 MiB EPYC VM; sysfs had it right.
    from pathlib import Path

    units = {"K": 1 << 10, "M": 1 << 20}
    reported = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        kind = (index / "type").read_text().strip()
        if kind != "Instruction":
            size = (index / "size").read_text().strip()
            level = int((index / "level").read_text())
            reported.setdefault(level, int(size[:-1]) * units[size[-1]])
    if not reported:
        pytest.skip("this kernel does not describe its caches in sysfs")
    sizes = pyfrozen.cache_sizes()
    for level, name in [(1, "l1d"), (2, "l2"), (3, "l3")]:
        if level in reported:
            assert sizes[name] == reported[level], (name, sizes, reported)
