"""GEMM throughput of pyfrozen against numpy (OpenBLAS) and torch, in one run.

Shapes: squares 64..2048 and the three GEMMs a training step runs per layer
(forward ``Y = X @ W``, input gradient ``dX = dY @ W.T``, weight gradient
``dW = X.T @ dY``). Transposed operands are views, outputs are preallocated, for
every library alike.

Run it from outside the repository root::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_gemm.py --threads 1
    cd /tmp && python /path/to/bench/bench_gemm.py --threads 2

With one thread the libraries are interleaved in one process (A B C, A B C, ...).
With more, each library runs in its own fresh process, the libraries alternating
round after round, because idle worker threads of one library spin and steal the
cores from the next (traps.md, "Memory and measurement").

The machine may be shared: each case (1 thread) or round of processes (2 threads)
waits for other processes to leave our CPUs and is re-timed while they did not; the
load that remained is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from common import (
    MIN_PAIRS,
    Load,
    Quiet,
    Stats,
    calls_per_sample,
    gflops,
    interleave,
    least_contended,
    machine_line,
    measured,
    optional_torch,
    ratio_stats,
    repeat,
    rounds_for,
    set_threads,
    table,
    warm_up,
)

import pyfrozen

LIBRARIES = ("pyfrozen", "numpy", "torch")
SQUARES = (64, 128, 256, 512, 1024, 2048)
# (name, M, K, N) of a layer's forward GEMM Y[M,N] = X[M,K] @ W[K,N].
LAYERS = (
    ("dense 1024->1024 b32", 32, 1024, 1024),
    ("dense 4096->1000 b32", 32, 4096, 1000),
    ("pw1x1 64->128 @96x96 b1", 9216, 64, 128),
    ("pw1x1 256->256 @12x12 b32", 4608, 256, 256),
    ("conv3x3 128->128 im2col @12x12 b32", 4608, 1152, 128),
)


@dataclass(frozen=True)
class Budget:
    """How long to time: per sample, per case, how many rounds, how to meet other load."""

    sample_s: float  # target length of one sample (many calls for small shapes)
    case_s: float  # time budget of one case, all libraries together
    min_rounds: int
    max_rounds: int
    process_rounds: int  # rounds of fresh processes in the multi-process mode
    attempts: int  # tries per case (or per round of processes) while contended
    quiet_wait_s: float  # how long to wait for other processes to leave the machine


FULL = Budget(0.01, 3.0, MIN_PAIRS, 41, process_rounds=11, attempts=3, quiet_wait_s=20)
QUICK = Budget(0.002, 0.2, 3, 5, process_rounds=2, attempts=1, quiet_wait_s=0)
# Inside one library's process (multi-process mode): samples feed one median per case.
WORKER_FULL = Budget(0.01, 0.3, 5, 21, process_rounds=1, attempts=1, quiet_wait_s=0)
WORKER_QUICK = Budget(0.002, 0.05, 2, 3, process_rounds=1, attempts=1, quiet_wait_s=0)


@dataclass
class CaseResult:
    """Seconds per call of each library, paired by round, and each round's load."""

    samples: dict[str, list[float]]
    loads: list[Load]  # per round: the worst load any library's timing met
    attempts: int = 1

    def kept(self, quiet: Quiet) -> list[int]:
        """Rounds whose load was ``quiet``; all rounds if none was."""
        kept = [i for i, load in enumerate(self.loads) if quiet.ok(load)]
        return kept or list(range(len(self.loads)))

    def kept_samples(self, lib: str, quiet: Quiet) -> list[float]:
        """``lib``'s samples from the rounds ``kept`` keeps."""
        return [self.samples[lib][i] for i in self.kept(quiet)]

    def worst(self, quiet: Quiet) -> Load:
        """The most contended load among the kept rounds."""
        return max((self.loads[i] for i in self.kept(quiet)), key=quiet.busy)


# ****** cases and operands ******


@dataclass(frozen=True)
class Case:
    """One GEMM ``C[m,n] = op(A) @ op(B)``; a transposed operand is passed as a view."""

    group: str
    op: str
    m: int
    k: int
    n: int
    trans_a: bool = False
    trans_b: bool = False

    @property
    def flop(self) -> float:
        """Floating-point operations of one call (a multiply-add counts as two)."""
        return 2.0 * self.m * self.k * self.n


def layer_cases(name: str, m: int, k: int, n: int) -> list[Case]:
    """The three GEMMs of a layer with forward ``Y[m,n] = X[m,k] @ W[k,n]``."""
    label = f"{name} ({m},{k},{n})"
    return [
        Case(label, "Y=X@W (NN)", m, k, n),
        Case(label, "dX=dY@W.T (NT)", m, n, k, trans_b=True),
        Case(label, "dW=X.T@dY (TN)", k, m, n, trans_a=True),
    ]


def all_cases() -> list[Case]:
    """Squares first, then each layer's forward, input-gradient and weight-gradient GEMM."""
    cases = [Case("square", f"{s}^3", s, s, s) for s in SQUARES]
    for layer in LAYERS:
        cases += layer_cases(*layer)
    return cases


def operands(case: Case, dtype: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``op(A)`` and ``op(B)``, each a transposed view of a C-contiguous array if flagged."""

    def make(rows: int, cols: int, trans: bool) -> np.ndarray:
        shape = (cols, rows) if trans else (rows, cols)
        x = rng.standard_normal(shape).astype(dtype)
        return x.T if trans else x

    return make(case.m, case.k, case.trans_a), make(case.k, case.n, case.trans_b)


def callers(
    a: np.ndarray, b: np.ndarray, libs: Sequence[str], torch: ModuleType | None
) -> dict[str, tuple[Callable[[], object], np.ndarray]]:
    """For each library, a call computing ``a @ b`` into its own preallocated output."""
    shape = (a.shape[0], b.shape[1])
    calls: dict[str, tuple[Callable[[], object], np.ndarray]] = {}
    for lib in libs:
        out = np.empty(shape, dtype=a.dtype)
        if lib == "pyfrozen":
            calls[lib] = (lambda out=out: pyfrozen.gemm(a, b, out), out)
        elif lib == "numpy":
            calls[lib] = (lambda out=out: np.matmul(a, b, out=out), out)
        elif lib == "torch" and torch is not None:
            # from_numpy keeps the strides: a transposed view stays a view, no copy.
            ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            calls[lib] = (lambda ta=ta, tb=tb, tout=tout: torch.mm(ta, tb, out=tout), out)
    return calls


def check(
    case: Case,
    a: np.ndarray,
    b: np.ndarray,
    calls: dict[str, tuple[Callable[[], object], np.ndarray]],
) -> None:
    """Fail loudly if a library's result differs from float64 numpy: never time a wrong kernel."""
    ref = a.astype(np.float64) @ b.astype(np.float64)
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    tol = 1e-4 if a.dtype == np.float32 else 1e-10
    for lib, (fn, out) in calls.items():
        fn()
        err = float(np.max(np.abs(out - ref))) / scale
        if err > tol:
            raise AssertionError(f"{case.group} {case.op}: {lib} relative error {err:.2e}")


# ****** timing modes ******


def time_case(
    case: Case,
    dtype: str,
    libs: Sequence[str],
    torch: ModuleType | None,
    budget: Budget,
) -> dict[str, list[float]]:
    """Seconds per call of each library, interleaved round-robin in this process."""
    rng = np.random.default_rng(0)
    a, b = operands(case, dtype, rng)
    calls = callers(a, b, libs, torch)
    check(case, a, b, calls)
    fns = {lib: fn for lib, (fn, _) in calls.items()}
    per_call = {lib: warm_up(fn) for lib, fn in fns.items()}
    numbers = {lib: calls_per_sample(t, budget.sample_s) for lib, t in per_call.items()}
    round_s = sum(numbers[lib] * per_call[lib] for lib in fns)
    rounds = rounds_for(round_s, budget.case_s, budget.min_rounds, budget.max_rounds)
    if len(fns) == 1:
        ((lib, fn),) = fns.items()
        return {lib: repeat(fn, rounds, numbers[lib])}
    return interleave(fns, rounds, numbers)


def run_in_process(
    cases: Sequence[Case], args: argparse.Namespace, torch: ModuleType | None
) -> list[CaseResult]:
    """All cases, all libraries interleaved in this process (the 1-thread mode)."""
    budget = QUICK if args.quick else FULL
    results = []
    for case in cases:
        samples, load, tries = least_contended(
            lambda case=case: time_case(case, args.dtype, args.libs, torch, budget),
            args.quiet,
            args.attempts or budget.attempts,
            budget.quiet_wait_s,
        )
        rounds = len(next(iter(samples.values())))
        results.append(CaseResult(samples, [load] * rounds, tries))
    return results


def worker(args: argparse.Namespace) -> None:
    """Child process: time one library on every case; print medians and loads as JSON."""
    torch = optional_torch() if args.worker == "torch" else None
    limiter = set_threads(args.threads, torch)
    budget = WORKER_QUICK if args.quick else WORKER_FULL
    medians, loads = [], []
    for case in all_cases():
        samples, load = measured(
            lambda case=case: time_case(case, args.dtype, [args.worker], torch, budget)
        )
        medians.append(Stats.of(samples[args.worker]).median)
        loads.append([load.here, load.all, load.steal])
    del limiter
    print(json.dumps({"medians": medians, "loads": loads}))


def child_command(lib: str, args: argparse.Namespace) -> list[str]:
    """The command line of a worker process for ``lib``."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib]
    cmd += ["--threads", str(args.threads), "--dtype", args.dtype]
    if args.isa:
        cmd += ["--isa", args.isa]
    if args.quick:
        cmd.append("--quick")
    return cmd


def run_worker(lib: str, args: argparse.Namespace) -> dict[str, list]:
    """Run one worker process to its end; its medians and per-case loads."""
    proc = subprocess.run(child_command(lib, args), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"worker {lib} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_round(args: argparse.Namespace) -> dict[str, dict[str, list]]:
    """One round: each library's worker process, one after the other."""
    return {lib: run_worker(lib, args) for lib in args.libs}


def run_in_processes(cases: Sequence[Case], args: argparse.Namespace) -> list[CaseResult]:
    """Each library in its own fresh process, alternating, for several rounds.

    Sample ``i`` of a library is its process median in round ``i``, so ratios pair
    processes that ran one right after the other. A contended round is run again;
    a case's pair is kept only where no library's timing of that case was contended.
    """
    budget = QUICK if args.quick else FULL
    rounds = args.rounds or budget.process_rounds
    results = [CaseResult({lib: [] for lib in args.libs}, [], 0) for _ in cases]
    for r in range(rounds):
        out, load, tries = least_contended(
            lambda: run_round(args),
            args.quiet,
            args.attempts or budget.attempts,
            budget.quiet_wait_s,
        )
        for i, result in enumerate(results):
            result.attempts = max(result.attempts, tries)
            for lib in args.libs:
                result.samples[lib].append(out[lib]["medians"][i])
            loads = [Load(*out[lib]["loads"][i]) for lib in args.libs]
            result.loads.append(max(loads, key=args.quiet.busy))
        print(f"  round {r + 1}/{rounds}: {tries} attempt(s), load {load.fmt()}", file=sys.stderr)
    return results


# ****** report ******


def report_rows(
    cases: Sequence[Case], results: Sequence[CaseResult], libs: Sequence[str], quiet: Quiet
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: GFLOP/s per library (median), pyfrozen's ratio to each peer,
    and the worst load other processes put on our CPUs; all over the kept rounds."""
    peers = [lib for lib in libs if lib != "pyfrozen"]
    headers = ["case (layer M,K,N)", "op", "GEMM (m,k,n)", "pairs kept", "pyfrozen GFLOP/s"]
    for peer in peers:
        headers += [f"{peer} GFLOP/s", f"pyfrozen/{peer}"]
    headers.append("load % (tries)")
    rows = []
    for case, result in zip(cases, results, strict=True):
        ours = result.kept_samples("pyfrozen", quiet)
        pairs = f"{len(ours)}/{len(result.loads)}"
        row = [case.group, case.op, f"{case.m},{case.k},{case.n}", pairs]
        row.append(f"{gflops(case.flop, Stats.of(ours).median):.1f}")
        for peer in peers:
            theirs = result.kept_samples(peer, quiet)
            row.append(f"{gflops(case.flop, Stats.of(theirs).median):.1f}")
            row.append(ratio_stats(ours, theirs).fmt(2, "x"))
        row.append(f"{result.worst(quiet).fmt()} ({result.attempts})")
        rows.append(row)
    return headers, rows


def method_note(args: argparse.Namespace) -> str:
    """How the figures were taken, printed under the tables."""
    budget = QUICK if args.quick else FULL
    if args.processes:
        how = (
            f"each library in its own fresh process, alternating {' -> '.join(args.libs)}, "
            f"{args.rounds or budget.process_rounds} rounds; a sample is one process's "
            "median; ratio = median (min-max) of the per-round ratios"
        )
    else:
        how = (
            f"libraries interleaved in one process ({' '.join(args.libs)}, repeated "
            "'pairs' times); ratio = median (min-max) of the per-round ratios"
        )
    extra = " QUICK run: too few pairs to quote." if args.quick else ""
    return (
        f"{args.dtype}, {args.threads} thread(s); {how}. Outputs preallocated, inputs warm, "
        f"transposed operands passed as views; GFLOP/s from the median time per call.{extra}"
    )


def load_note(results: Sequence[CaseResult], args: argparse.Namespace, whole: Load) -> str:
    """Explain the load column; warn where other processes were never quiet."""
    unit = "round of processes" if args.processes else "case"
    scope = "all CPUs" if args.quiet.whole_machine else "our CPUs"
    busy = sum(not args.quiet.ok(r.worst(args.quiet)) for r in results)
    note = (
        "Load % = other processes' CPU use on our CPUs / on all CPUs / host steal, in % of "
        f"one CPU (worst kept round); tries = most attempts of a {unit}: each waits for "
        f"{scope} to be quiet and is re-timed while the load there exceeded "
        f"{args.quiet.max_busy:.0f} %; pairs from rounds still above it are dropped "
        f"(kept/total). Whole run, waits included: {whole.fmt()}."
    )
    if busy:
        note += f" WARNING: {busy} case(s) had no quiet round: contended figures."
    return note


def print_report(
    cases: Sequence[Case],
    results: Sequence[CaseResult],
    args: argparse.Namespace,
    line: str,
    whole: Load,
) -> None:
    """Two tables (squares, layer GEMMs), each under the machine line, then notes."""
    headers, rows = report_rows(cases, results, args.libs, args.quiet)
    squares = [r for r in rows if r[0] == "square"]
    layers = [r for r in rows if r[0] != "square"]
    for title, part in (("Square GEMMs", squares), ("Layer GEMMs (training passes)", layers)):
        print(f"\n{'### ' if args.markdown else ''}{title}\n")
        print(f"Machine: {line}\n")
        print(table(headers, part, args.markdown))
    print(f"\nMethod: {method_note(args)}")
    print(load_note(results, args, whole))


# ****** command line ******


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="threads for every library")
    p.add_argument("--quick", action="store_true", help="few repetitions: a smoke test")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--isa", choices=("generic", "avx2", "avx512"), help="force pyfrozen's ISA path")
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--processes",
        action="store_true",
        default=None,
        help="one process per library, alternating (default when --threads > 1)",
    )
    mode.add_argument(
        "--in-process",
        dest="processes",
        action="store_false",
        help="interleave all libraries in one process (default for --threads 1)",
    )
    p.add_argument("--rounds", type=int, help="process rounds in --processes mode")
    p.add_argument(
        "--max-busy",
        type=float,
        default=10.0,
        help="re-time a case (round) while other processes used more than this %% of a CPU",
    )
    p.add_argument("--attempts", type=int, help="tries per case (round) while contended")
    p.add_argument(
        "--ours-only",
        action="store_true",
        help="count other processes on our CPUs only (default: on the whole machine)",
    )
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.processes is None:
        args.processes = args.threads > 1
    args.quiet = Quiet(args.max_busy, whole_machine=not args.ours_only)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.isa:
        pyfrozen.set_isa(args.isa)
    if args.worker:
        worker(args)
        return
    torch = None if args.no_torch else optional_torch()
    args.libs = [lib for lib in LIBRARIES if lib != "torch" or torch is not None]
    limiter = set_threads(args.threads, torch)
    line = machine_line(args.threads, torch, args.dtype)
    if args.threads == 1 and len(os.sched_getaffinity(0)) > 1:
        print("warning: not pinned; run under `taskset -c 0`", file=sys.stderr)
    cases = all_cases()
    start = time.perf_counter()
    if args.processes:
        results, whole = measured(lambda: run_in_processes(cases, args))
    else:
        results, whole = measured(lambda: run_in_process(cases, args, torch))
    del limiter
    print_report(cases, results, args, line, whole)
    print(f"Wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
