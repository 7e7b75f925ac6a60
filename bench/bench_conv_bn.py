"""MobileNet V1 layer kernels at batch 32: pyfrozen against torch (channels_last), one run.

Forward, backward-input and backward-weight of the convolutions MobileNet trains, and
BatchNorm (32, 48, 48, 64) train forward, train forward+backward and eval forward, each
timed interleaved with torch's equivalent in the same process (``bench/common.py``).
Ratios are torch time / pyfrozen time (> 1: pyfrozen is faster). The issue's target:
no pass slower than 1.5x torch's time (ratio >= 0.67).

    cd /tmp && taskset -c 0 python /path/to/bench/bench_conv_bn.py --threads 1 --markdown

``--ab OTHER_PYTHON`` compares two pyfrozen builds instead (e.g. before and after a
change, each installed in its own venv): fresh worker processes of this interpreter and
of OTHER_PYTHON alternate (A B, B A, ...) for ``--rounds`` rounds; each worker times
every pyfrozen pass (the minimum of 7 samples, so a burst of load from other processes
does not count; ``--cpu-time`` counts process CPU time instead of wall time, for 1
thread on a loaded machine) and the table gives the per-round ratio other / this
(> 1: this build is faster), median (min-max):

    cd /tmp && taskset -c 0 new/.venv/bin/python bench_conv_bn.py --threads 1 \
        --ab old/.venv/bin/python --rounds 8 --markdown
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Stats,
    calls_per_sample,
    machine_line,
    measured,
    optional_torch,
    repeat,
    set_threads,
    table,
    time_pair,
    warm_up,
)

from pyfrozen import _core  # noqa: E402


@dataclass(frozen=True)
class Conv:
    """One convolution layer: NHWC input, HWIO kernel, 'valid' on a pre-padded input."""

    name: str
    h: int
    c: int
    c_out: int
    k: int
    stride: int
    pad: tuple[int, int, int, int]  # top, bottom, left, right (TF 'same')
    depthwise: bool
    input_grad: bool = True  # the first layer's input is the image: no dX, ever


LAYERS = [
    Conv("conv3x3 s2 3->32 @96x96", 96, 3, 32, 3, 2, (0, 1, 0, 1), False, input_grad=False),
    Conv("dw3x3 32 @48x48", 48, 32, 32, 3, 1, (1, 1, 1, 1), True),
    Conv("pw1x1 32->64 @48x48", 48, 32, 64, 1, 1, (0, 0, 0, 0), False),
    Conv("dw3x3 256 @12x12", 12, 256, 256, 3, 1, (1, 1, 1, 1), True),
    Conv("pw1x1 256->256 @12x12", 12, 256, 256, 1, 1, (0, 0, 0, 0), False),
]
BATCH = 32


def conv_passes(layer: Conv, torch, rng) -> list[tuple[str, Callable, Callable]]:
    """(pass, pyfrozen call, torch call) for each pass the layer trains with."""
    t, b = layer.pad[0], layer.pad[1]
    x = rng.standard_normal((BATCH, layer.h, layer.h, layer.c), dtype=np.float32)
    groups = layer.c if layer.depthwise else 1
    w = rng.standard_normal((layer.k, layer.k, layer.c // groups, layer.c_out), dtype=np.float32)
    opts = dict(stride=layer.stride, padding=layer.pad, groups=groups)
    y = _core.conv2d_forward(x, w, **opts)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dw = np.empty_like(x), np.empty_like(w)

    # torch: NCHW views of the same NHWC memory are channels_last tensors.
    tx = torch.from_numpy(x).permute(0, 3, 1, 2)
    tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(
        memory_format=torch.channels_last)
    tdy = torch.from_numpy(dy).permute(0, 3, 1, 2)
    symmetric = t == b and layer.pad[2] == layer.pad[3]
    tpad = [t, layer.pad[2]] if symmetric else [0, 0]
    # torch has no asymmetric padding: pad its input once, outside the timing.
    tin = tx if symmetric else torch.nn.functional.pad(
        tx, (layer.pad[2], layer.pad[3], t, b)).contiguous(memory_format=torch.channels_last)

    def tconv_backward(mask):
        return torch.ops.aten.convolution_backward(
            tdy, tin, tw, None, [layer.stride] * 2, tpad, [1, 1], False, [0, 0], groups, mask)

    passes = [
        ("forward", lambda: _core.conv2d_forward(x, w, out=y, **opts),
         lambda: torch.nn.functional.conv2d(tin, tw, None, layer.stride, tpad, 1, groups)),
        ("backward_weight",
         lambda: _core.conv2d_backward_weight(x, dy, dw, kernel_size=layer.k, **opts),
         lambda: tconv_backward([False, True, False])),
    ]
    if layer.input_grad:
        passes.insert(1, (
            "backward_input",
            lambda: _core.conv2d_backward_input(dy, w, dx, input_shape=x.shape, **opts),
            lambda: tconv_backward([True, False, False])))
    return passes


def bn_passes(torch, rng) -> list[tuple[str, Callable, Callable]]:
    """BatchNorm (32, 48, 48, 64) NHWC: train fwd, train fwd+bwd, eval fwd."""
    x = rng.standard_normal((BATCH, 48, 48, 64), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    rm, rv, y = np.zeros(64, np.float32), np.ones(64, np.float32), np.empty_like(x)
    tx, tdy = torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(dy).permute(0, 3, 1, 2)
    tg, tb = torch.from_numpy(gamma), torch.from_numpy(beta)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())

    def ours_train(backward: bool):
        _, mean, inv_std = _core.batchnorm_forward_training(
            x, gamma, beta, running_mean=rm, running_var=rv, out=y)
        if backward:
            _core.batchnorm_backward_training(dy, x, gamma, mean, inv_std)

    def torch_train(backward: bool):
        out, mean, invstd = torch.ops.aten.native_batch_norm(tx, tg, tb, trm, trv, True, 0.01,
                                                              1e-3)
        if backward:
            torch.ops.aten.native_batch_norm_backward(tdy, tx, tg, trm, trv, mean, invstd, True,
                                                      1e-3, [True, True, True])

    return [
        ("train fwd", lambda: ours_train(False), lambda: torch_train(False)),
        ("train fwd+bwd", lambda: ours_train(True), lambda: torch_train(True)),
        ("eval fwd",
         lambda: _core.batchnorm_forward_inference(x, gamma, beta, rm, rv, out=y),
         lambda: torch.ops.aten.native_batch_norm(tx, tg, tb, trm, trv, False, 0.01, 1e-3)),
    ]


def rows_for(group: str, passes, quick: bool) -> list[list[str]]:
    rows = []
    for name, ours, peer in passes:
        (o, p, r), load = measured(lambda ours=ours, peer=peer: time_pair(ours, peer, quick))
        verdict = "ok" if r.median >= 1 / 1.5 else "MISSED"
        rows.append([group, name, f"{o.median * 1e3:.2f}", f"{p.median * 1e3:.2f}",
                     r.fmt(2, "x"), verdict, f"{load.all:.0f}"])
    return rows


def all_passes(torch) -> list[tuple[str, str, Callable, Callable]]:
    """(group, pass, pyfrozen call, torch call) for every layer and BatchNorm."""
    rng = np.random.default_rng(0)
    out = []
    for layer in LAYERS:
        out += [(layer.name, *p) for p in conv_passes(layer, torch, rng)]
    return out + [("batchnorm (32,48,48,64)", *p) for p in bn_passes(torch, rng)]


def cpu_seconds_per_call(fn: Callable[[], object], number: int) -> float:
    """CPU seconds of this process per call: time the OS gave other processes does not
    count (on a loaded machine, wall time of a 1-thread run mostly measures the load)."""
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number


def worker(quick: bool, only: str | None, cpu_time: bool) -> None:
    """--ab's worker: JSON {"group | pass": min seconds per call of pyfrozen's call}."""
    times = {}
    torch = optional_torch()
    for group, name, ours, _ in all_passes(torch):
        if only and name != only:
            continue
        number = calls_per_sample(warm_up(ours), 0.01 if quick else 0.04)
        if cpu_time:
            samples = [cpu_seconds_per_call(ours, number) for _ in range(3 if quick else 7)]
        else:
            samples = repeat(ours, 3 if quick else 7, number)
        times[f"{group} | {name}"] = min(samples)
    print(json.dumps({"times": times, "machine": machine_line(pyfrozen_threads(), torch)}))


def pyfrozen_threads() -> int:
    import pyfrozen

    return pyfrozen.get_num_threads()


def ab(other: str, threads: int, rounds: int, quick: bool, markdown: bool,
       only: str | None, cpu_time: bool) -> None:
    """Alternating worker processes of this build (A) and `other` (B), per-round B / A."""
    cmd = [__file__, "--worker", "--threads", str(threads)] + (["--quick"] if quick else [])
    cmd += (["--only", only] if only else []) + (["--cpu-time"] if cpu_time else [])
    runs: dict[str, list[dict]] = {"this": [], "other": []}
    machine = {}
    for r in range(rounds):
        order = [("this", sys.executable), ("other", other)]
        for label, python in order if r % 2 == 0 else order[::-1]:
            out = subprocess.run([python, *cmd], capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            runs[label].append(got["times"])
            machine[label] = got["machine"]
    print(f"Machine (A, this build): {machine['this']}\n")
    print(f"Machine (B, {other}): {machine['other']}\n")
    rows = []
    for key in runs["this"][0]:
        a = [t[key] for t in runs["this"]]
        b = [t[key] for t in runs["other"]]
        ratio = Stats.of([y / x for x, y in zip(a, b, strict=True)])
        group, name = key.split(" | ")
        rows.append([group, name, f"{Stats.of(a).median * 1e3:.3f}",
                     f"{Stats.of(b).median * 1e3:.3f}", ratio.fmt(3, "x")])
    headers = ["layer (batch 32)", "pass", "A ms", "B ms", "B / A per round"]
    print(table(headers, rows, markdown))
    clock = "process CPU time" if cpu_time else "wall time"
    print(f"\n{rounds} rounds, A and B alternating in fresh processes (A B, B A, ...); "
          f"each figure is a process's fastest of 7 samples ({clock}); ratio > 1: A is "
          "faster.")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--ab", metavar="OTHER_PYTHON",
                    help="compare this build with the pyfrozen of another interpreter")
    ap.add_argument("--rounds", type=int, default=8, help="--ab rounds (default 8)")
    ap.add_argument("--only", metavar="PASS", help="--ab: time only this pass "
                    "(e.g. backward_weight)")
    ap.add_argument("--cpu-time", action="store_true", help="--ab: time process CPU time, "
                    "not wall time (1 thread on a loaded machine)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch = optional_torch()
    if torch is None:
        sys.exit("bench_conv_bn compares with torch: pip install torch==2.13.0")
    if args.ab:
        return ab(args.ab, args.threads, args.rounds, args.quick, args.markdown, args.only,
                  args.cpu_time)
    limiter = set_threads(args.threads, torch)
    if args.worker:
        return worker(args.quick, args.only, args.cpu_time)
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        rows += rows_for(layer.name, conv_passes(layer, torch, rng), args.quick)
    rows += rows_for("batchnorm (32,48,48,64)", bn_passes(torch, rng), args.quick)
    print(f"Machine: {machine_line(args.threads, torch)}\n")
    headers = ["layer (batch 32)", "pass", "pyfrozen ms", "torch ms", "torch/pyfrozen",
               "target (>= 0.67x)", "load %"]
    print(table(headers, rows, args.markdown))
    print("\nRatio: median (min-max) of per-round torch time / pyfrozen time, interleaved in "
          "one process; outputs preallocated where the API allows; torch tensors are "
          "channels_last views of the same NHWC data. Load: other processes' CPU use (% of "
          "one CPU) while the pair was timed.")
    del limiter


if __name__ == "__main__":
    main()
