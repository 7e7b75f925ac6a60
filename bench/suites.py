"""What ``run.py`` runs: each suite's benchmark scripts and how to call them.

Every script stays runnable on its own; ``run.py`` calls it as a child process with
``--markdown`` (and ``--quick``, ``--threads N`` where it takes them) and reads its
tables back. ``needs``: peers without which the script has nothing to compare (it is
skipped with a line when one cannot be imported); other peers are optional (the script
leaves their columns out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """One benchmark script of a suite."""

    file: str
    needs: tuple[str, ...] = ()
    threads: bool = False  # takes --threads N (else: 1 thread only)
    modes: tuple[tuple[str, tuple[str, ...]], ...] = (("default", ()),)
    """(allocator mode, extra arguments) runs: scripts that pick the mode themselves."""
    smoke: tuple[str, ...] | None = ()
    """Extra arguments under ``--smoke``; None: left out of a smoke run."""


SUITES: dict[str, tuple[Script, ...]] = {
    "kernels": (
        Script("bench_gemm.py", threads=True),
        Script("bench_conv_bn.py", needs=("torch",), threads=True, smoke=None),
        Script("bench_isa_paths.py"),
    ),
    "autograd": (
        Script("bench_autograd.py", needs=("torch",)),
        Script("bench_input_copy.py"),
    ),
    "train": (
        # bench_train runs both allocator modes itself, each in fresh processes.
        Script("bench_train.py", needs=("torch",), threads=True,
               modes=(("default and keep-heap", ()),), smoke=("--configs", "inference,full")),
        Script("bench_fit.py"),
        Script("bench_fusion.py"),
        Script("bench_prefix_cache.py", smoke=None),
        Script("bench_freezing.py", needs=("torch",), smoke=None,
               modes=(("default", ()), ("keep-heap", ("--keep-heap",)))),
        Script("bench_onnx_layout.py", needs=("onnx", "onnxruntime"), threads=True, smoke=None),
        Script("bench_lora.py", needs=("torch",), smoke=("--tiny",)),
    ),
}


def scripts_of(suite: str) -> list[tuple[str, Script]]:
    """(suite, script) pairs of ``suite`` or of every suite (``all``)."""
    names: Sequence[str] = list(SUITES) if suite == "all" else [suite]
    return [(name, script) for name in names for script in SUITES[name]]
