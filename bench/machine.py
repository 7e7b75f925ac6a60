"""The machine a figure depends on: thread counts of every library and the machine line.

Give every library the same thread count (``set_threads``) and print a machine line with
every table (``machine_line``): figures from two hosts are never comparable.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

from load import allowed_cpus


def optional_torch() -> ModuleType | None:
    """``torch`` if it imports, else None (torch is an optional peer)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def set_threads(n: int, torch: ModuleType | None = None) -> Any:
    """Give every library ``n`` threads: pyfrozen, numpy's BLAS (and OpenMP), torch.

    Returns the threadpoolctl limiter; keep it alive while timing (it is also a
    context manager that restores the old limits).
    """
    from threadpoolctl import threadpool_limits

    import pyfrozen

    pyfrozen.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    return threadpool_limits(limits=n)


def thread_counts(torch: ModuleType | None = None) -> dict[str, int]:
    """The thread count each library reports now, to check ``set_threads``."""
    from threadpoolctl import threadpool_info

    import pyfrozen

    counts = {"pyfrozen": pyfrozen.get_num_threads()}
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            counts[pool["internal_api"]] = pool["num_threads"]
    if torch is not None:
        counts["torch"] = torch.get_num_threads()
    return counts


def cpu_info() -> dict[str, str]:
    """First processor block of ``/proc/cpuinfo`` (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_summary() -> str:
    """CPU model, family/model numbers and the SIMD flags that matter here."""
    info = cpu_info()
    if not info:
        return f"CPU {platform.processor() or platform.machine()}"
    flags = set(info.get("flags", "").split())
    simd = "+".join(f for f in ("avx2", "fma", "avx512f") if f in flags) or "no avx2"
    return (
        f"CPU {info.get('model name', '?')} (family {info.get('cpu family', '?')} "
        f"model {info.get('model', '?')}), {simd}"
    )


def blas_summary() -> str:
    """numpy's version and BLAS core as threadpoolctl reports them."""
    import numpy
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    cores = ", ".join(
        f"{p['internal_api']} {p.get('version')} {p.get('architecture', '?')} "
        f"{p.get('threading_layer', '?')}"
        for p in pools
    )
    return f"numpy {numpy.__version__} ({cores or 'no BLAS found'})"


def torch_summary(torch: ModuleType | None) -> str:
    """torch's version and CPU capability, or that it is absent."""
    if torch is None:
        return "torch absent"
    cpu = getattr(torch.backends, "cpu", None)
    capability = cpu.get_cpu_capability() if cpu is not None else "?"
    return f"torch {torch.__version__} (capability {capability})"


def build_hash() -> str:
    """Short sha256 over pyfrozen's compiled files (``_core`` and the kernel library).

    Tells two builds apart when the version number does not change.
    """
    import pyfrozen

    digest = hashlib.sha256()
    for path in sorted(Path(pyfrozen.__file__).parent.rglob("*.so*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def pyfrozen_summary(dtype: str = "float32") -> str:
    """pyfrozen's version, build hash, ISA, GEMM blocking for ``dtype`` and cache sizes."""
    import pyfrozen
    from pyfrozen import _core

    bl = _core.gemm_blocking(dtype)
    blocking = " ".join(f"{k}{bl[k]}" for k in ("mr", "nr", "mc", "kc", "nc"))
    caches = "/".join(f"{v >> 10}K" for v in pyfrozen.cache_sizes().values())
    return (
        f"pyfrozen {pyfrozen.__version__} (build {build_hash()}, isa {pyfrozen.get_isa()}, {dtype} "
        f"blocking {blocking}, caches {caches})"
    )


def affinity_summary() -> str:
    """Whether this process is pinned, from ``os.sched_getaffinity``."""
    total = os.cpu_count() or 0
    cpus = sorted(allowed_cpus())
    listed = ",".join(map(str, cpus))
    if len(cpus) < total:
        return f"pinned to cpu {listed} of {total}"
    return f"not pinned (cpus {listed})"


def machine_line(threads: int, torch: ModuleType | None = None, dtype: str = "float32") -> str:
    """One line naming everything a figure depends on; print it with every table."""
    counts = ", ".join(f"{k} {v}" for k, v in thread_counts(torch).items())
    parts = [
        cpu_summary(),
        f"Python {platform.python_version()}",
        blas_summary(),
        torch_summary(torch),
        pyfrozen_summary(dtype),
        f"threads {threads} ({counts})",
        affinity_summary(),
    ]
    return " | ".join(parts)
