"""Data-parallel training: 2 MPI ranks x 1 thread against 1 process x 1 thread.

MobileNet V1 alpha 0.25, 96x96x3, + GlobalAveragePooling2D + Dense(10), SGD momentum 0.9,
global batch 32 (2 ranks: 16 each), ``fit`` over ``--steps`` batches per epoch; the first
epoch is a warm-up, the others are timed. Configurations: full step, base frozen.

- pyfrozen: ``pyfrozen.distributed.DataParallel`` under ``mpiexec -n 2 -bind-to core``
  (one core per rank), against ``taskset -c 0 python`` without a strategy; also with
  ``overlap=False`` (every allreduce after backward).
- torch (the peer, when installed): ``DistributedDataParallel`` on the gloo backend,
  started by the same ``mpiexec`` (rank and size from MPICH's ``PMI_RANK`` /
  ``PMI_SIZE``, rendezvous on 127.0.0.1), against one process; the same network
  (``bench_freezing.torch_model``), channels_last, 1 thread.

Each run is a fresh job; the runs of one repetition are interleaved (pyfrozen 1, 2 ranks,
torch 1, 2 ranks, per configuration) and repeated ``--reps`` times; reported: median
seconds per epoch, samples per second, the 2-rank speed-up, and the gradient bytes each
rank sends per step (pyfrozen: counted by the strategy; DDP: the bytes of the parameters
that require a gradient, which its reducer allreduces). Also each job's CPU seconds per
epoch (the busiest rank's for 2 ranks): on a loaded host the wall-clock speed-up mostly
measures the other processes, the CPU-time ratio estimates what a quiet host would give
(it counts the ranks' waiting too, spinning before they sleep). The host has 2 cores: run
it when it is quiet and note ``uptime``::

    cd /tmp && python /path/to/bench/bench_distributed.py --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_freezing import torch_model  # noqa: E402
from train_setup import FREEZING, Shape, data, pyfrozen_compiled  # noqa: E402

SHAPE = Shape(0.25, 96, 32)
AFTER = "pyfrozen, overlap off"  # every allreduce after backward (DataParallel(overlap=False))
CONFIGS = ("full", "frozen")


# ---------------------------------------------------------------------------------------
# Children: one training job (one process, or each rank of an mpiexec job)
# ---------------------------------------------------------------------------------------


def pyfrozen_child(config: str, shape: Shape, steps: int, epochs: int, ranks: int) -> dict:
    import pyfrozen

    class Clocks(pyfrozen.callbacks.Callback):
        """Wall-clock and CPU seconds (this process) of each epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.wall: list[float] = []
            self.cpu: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.wall.append(time.perf_counter() - self.t0)
            self.cpu.append(time.process_time() - self.c0)

    overlap = os.environ.get("BENCH_OVERLAP", "1") == "1"
    strategy = pyfrozen.distributed.DataParallel(threads=1, overlap=overlap) if (
        ranks > 1) else None
    pyfrozen.set_num_threads(1)
    if strategy is not None:
        with strategy.scope():
            model = pyfrozen_compiled(config, shape)
    else:
        model = pyfrozen_compiled(config, shape)
    x, y = data(shape, steps)
    timer = Clocks()
    model.fit(x, y, batch_size=shape.batch, epochs=epochs, verbose=0, callbacks=[timer])
    sent = 0 if strategy is None else strategy.bytes_last_step
    reduce_s = 0.0 if strategy is None else strategy.reduce_seconds / max(strategy.steps, 1)
    return {"epochs": timer.wall[1:], "cpu": timer.cpu[1:], "bytes": sent,
            "reduce_ms": 1e3 * reduce_s, "rank": 0 if strategy is None else strategy.rank}


def torch_child(config: str, shape: Shape, steps: int, epochs: int, ranks: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    rank = int(os.environ.get("PMI_RANK", "0"))
    torch.manual_seed(0)
    net = torch_model(torch, FREEZING[config], shape.alpha).to(
        memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    if ranks > 1:
        torch.distributed.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{os.environ['BENCH_PORT']}", rank=rank,
            world_size=ranks)
        net = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    x_np, y_np = data(shape, steps)
    x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(y_np)
    local = shape.batch // ranks
    times, cpu = [], []
    for _ in range(epochs):
        order = torch.from_numpy(np.random.default_rng(len(times)).permutation(len(y)))
        start, cpu_start = time.perf_counter(), time.process_time()
        for step in range(steps):
            index = order[step * shape.batch:(step + 1) * shape.batch][
                rank * local:(rank + 1) * local]
            loss = torch.nn.functional.cross_entropy(net(x[index]), y[index])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    sent = sum(p.numel() * p.element_size() for p in params) if ranks > 1 else 0
    if ranks > 1:  # both ranks leave together (gloo aborted a rank that left early)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"epochs": times[1:], "cpu": cpu[1:], "bytes": sent, "reduce_ms": float("nan"),
            "rank": rank}


# ---------------------------------------------------------------------------------------
# The parent: fresh jobs, interleaved
# ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(lib: str, config: str, ranks: int, args: argparse.Namespace) -> dict:
    child = [sys.executable, __file__, "--child", "pyfrozen" if lib == AFTER else lib, config,
             str(ranks), "--steps", str(args.steps), "--epochs", str(args.epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_PORT": str(_free_port()),
           "BENCH_OVERLAP": "0" if lib == AFTER else "1"}
    if ranks == 1:
        command = ["taskset", "-c", "0", *child]
    else:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        command = [str(mpiexec if mpiexec.exists() else shutil.which("mpiexec")),
                   "-bind-to", "core", "-n", str(ranks), *child]
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=900,
                              env={**env, "BENCH_OUT": out})
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}")
        results = [json.loads(p.read_text()) for p in sorted(Path(out).glob("rank*.json"))]
    # Rank 0's clock; the busiest rank's CPU seconds (the step waits for it).
    busiest = [max(c) for c in zip(*(r["cpu"] for r in results), strict=True)]
    return {**results[0], "cpu": busiest}


def report(results: dict, args: argparse.Namespace, libs: list[str]) -> str:
    samples = args.steps * SHAPE.batch
    rows = [f"{SHAPE.label()} (global), {args.steps} steps per epoch, median of "
            f"{args.reps} jobs x {args.epochs - 1} timed epochs",
            "| library | configuration | 1 process s/epoch | 2 ranks s/epoch | "
            "1 process samples/s | 2 ranks samples/s | speed-up | bytes/step/rank | "
            "allreduce ms/step | 1 process CPU s/epoch | 2 ranks CPU s/epoch (busiest) | "
            "CPU speed-up |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lib in libs:
        for config in CONFIGS:
            single = "pyfrozen" if lib == AFTER else lib  # the same 1-process runs
            one = statistics.median(t for r in results[single, config, 1] for t in r["epochs"])
            two = statistics.median(t for r in results[lib, config, 2] for t in r["epochs"])
            sent = results[lib, config, 2][0]["bytes"]
            reduce_ms = statistics.median(r["reduce_ms"] for r in results[lib, config, 2])
            cpu1 = statistics.median(t for r in results[single, config, 1] for t in r["cpu"])
            cpu2 = statistics.median(t for r in results[lib, config, 2] for t in r["cpu"])
            waited = "" if reduce_ms != reduce_ms else f"{reduce_ms:.2f}"  # torch: not measured
            rows.append(f"| {lib} | {config} | {one:.3f} | {two:.3f} | {samples / one:.1f} | "
                        f"{samples / two:.1f} | {one / two:.2f}x | {sent:,} | "
                        f"{waited} | {cpu1:.3f} | {cpu2:.3f} | {cpu1 / cpu2:.2f}x |")
    for lib in libs[:1] + libs[2:]:
        full, frozen = (results[lib, c, 2][0]["bytes"] for c in CONFIGS)
        rows.append(f"\n{lib}: full step sends {full / max(frozen, 1):.0f}x the bytes of a "
                    "frozen-base step")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("LIB", "CONFIG", "RANKS"))
    parser.add_argument("--steps", type=int, default=8, help="global batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per job (first: warm-up)")
    parser.add_argument("--reps", type=int, default=3, help="jobs per configuration")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch DDP peer")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 steps, 1 rep")
    args = parser.parse_args(argv)
    if args.child:
        lib, config, ranks = args.child
        fn = pyfrozen_child if lib == "pyfrozen" else torch_child
        result = fn(config, SHAPE, args.steps, args.epochs, int(ranks))
        out = Path(os.environ["BENCH_OUT"]) / f"rank{result['rank']}.json"
        out.write_text(json.dumps(result))  # a file per rank: their stdout interleave
        return
    if args.quick:
        args.steps, args.reps, args.epochs = 2, 1, 2
    from machine import machine_line, optional_torch

    torch = None if args.no_torch else optional_torch()
    libs = ["pyfrozen", AFTER] + (["torch"] if torch is not None else [])
    print(machine_line(1, torch))
    print(f"load before: {os.getloadavg()}")
    results: dict[tuple[str, str, int], list[Any]] = {}
    for _ in range(args.reps):
        for config in CONFIGS:
            for lib in libs:
                for ranks in (1, 2) if lib != AFTER else (2,):
                    results.setdefault((lib, config, ranks), []).append(
                        run_job(lib, config, ranks, args))
    print(f"load after: {os.getloadavg()}")
    print(report(results, args, libs))


if __name__ == "__main__":
    main()
