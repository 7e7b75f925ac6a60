"""Freezing makes training cheaper, exactly as much as it should: pyfrozen against torch.

MobileNet V1 (alpha 0.25, 96x96x3, no top) + GlobalAveragePooling2D + Dense(10), batch
16, float32, 1 thread. One training step = forward, softmax cross-entropy, backward and
a plain SGD update of the trainable weights (``optimizers.SGD``, ``torch.optim.SGD``),
in three configurations, plus the forward-only floor:

* ``forward``: no_grad, BatchNormalization in inference mode (the floor);
* ``a``: everything trainable (BatchNormalization uses batch statistics);
* ``b``: base frozen and called with ``training=False``, the head trains;
* ``c``: the base's layers up to ``conv_pw_6_relu`` frozen (their BatchNormalization in
  inference mode), the rest and the head train.

torch runs the same architecture written with ``torch.nn`` in ``channels_last`` (NHWC in
memory, as pyfrozen; torch's own faster layout here), ``ReLU6(inplace=True)`` as
torchvision's MobileNets, frozen parts via ``requires_grad_(False)`` and ``.eval()`` on
their BatchNorm, ``torch.optim.SGD`` on the trainable parameters. Weights differ (each
library's default initialization); the work does not.

Every measurement runs in a fresh process (``--child``): glibc gives big freed blocks
back to the kernel and adapts its thresholds to what ran before, so whether a step
re-faults its memory depends on the process's history; a user's training loop runs one
configuration. Reported:

* step times: each configuration's pyfrozen and torch steps interleaved (``time_pair``)
  in one process, with the page faults and system time of each library's steps;
* same-run ratios: one process per library, its configurations interleaved
  (``time_group``): frozen step / forward floor, / full step, and configuration c
  against c's two halves run apart (frozen layers' no_grad forward + a training step
  of the rest on their output): what c should cost;
* what the step records: pyfrozen's ``trace()`` (tape nodes, saved bytes, kernels by
  pass) and torch's saved tensors (``saved_tensors_hooks``);
* memory, one process per library and configuration: peak RSS rise over the built
  model, and the peak of live arrays during a step (tracemalloc / torch profiler).

``--keep-heap`` runs the children with glibc told to keep freed memory (what reusing
buffers would give). Run it from outside the repository root, pinned::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_freezing.py --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from children import run_json  # noqa: E402
from common import (  # noqa: E402
    KEEP_HEAP,
    MIN_PAIRS,
    CountingFaults,
    Load,
    Quiet,
    Stats,
    least_contended,
    machine_line,
    optional_torch,
    peak_rss_bytes,
    ratio_stats,
    reset_peak_rss,
    rss_bytes,
    set_threads,
    table,
    time_group,
    time_pair,
)

BATCH, SIZE, ALPHA, CLASSES = 16, 96, 0.25, 10
LEARNING_RATE = 1e-3
FREEZE_UNTIL = "conv_pw_6_relu"  # configuration c freezes the base up to this layer
CONFIGS = {
    "forward": "forward only (no_grad, BN inference)",
    "a": "a: all trainable",
    "b": "b: base frozen, training=False",
    "c": f"c: base frozen up to {FREEZE_UNTIL}",
}
MAC_KERNELS = ("conv2d", "depthwise_conv2d", "dense")  # their trace work is multiply-adds
BACKWARD_PASSES = ("backward_input", "backward_weight", "backward_bias")
MEMORY_STEPS = 4
WARM_CALLS = 3  # calls before faults are counted (first calls fault everything in)


def data() -> tuple[np.ndarray, np.ndarray]:
    """A random batch (NHWC images in [-1, 1], integer labels), the same for both."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH).astype(np.int64)


# ****** pyfrozen ******


def pyfrozen_model(config: str, alpha: float = ALPHA, size: int = SIZE,
                   freeze_until: str = FREEZE_UNTIL) -> Any:
    """MobileNet + GlobalAveragePooling2D + Dense(10), frozen as ``config`` says."""
    from pyfrozen.applications import MobileNet
    from pyfrozen.layers import Dense, GlobalAveragePooling2D, Input
    from pyfrozen.models import Model

    base = MobileNet(input_shape=(size, size, 3), alpha=alpha, include_top=False)
    inputs = Input((size, size, 3))
    if config in ("b", "forward"):
        base.trainable = False
        features = base(inputs, training=False)
    else:
        if config == "c":
            for layer in base.layers:
                layer.trainable = False
                if layer.name == freeze_until:
                    break
        features = base(inputs)
    pooled = GlobalAveragePooling2D(name="gap")(features)
    return Model(inputs, Dense(CLASSES, name="head")(pooled))


def pyfrozen_sgd_step(forward: Callable[[], Any], params: Sequence[Any],
                      labels: np.ndarray) -> Callable[[], object]:
    """forward(), softmax cross-entropy, backward, ``optimizers.SGD`` on ``params``."""
    from pyfrozen import ops, optimizers

    optimizer = optimizers.SGD(learning_rate=LEARNING_RATE)

    def step() -> object:
        loss = ops.softmax_cross_entropy(forward(), labels)
        loss.backward()
        optimizer.apply([p.grad for p in params], params)
        for p in params:
            p.grad = None
        return loss
    return step


def pyfrozen_fn(config: str) -> Callable[[], object]:
    """One training step (or the no_grad forward) of a fresh model for ``config``."""
    import pyfrozen

    model = pyfrozen_model(config)
    x_np, labels = data()
    x = pyfrozen.tensor(x_np)
    if config == "forward":
        def forward() -> object:
            with pyfrozen.no_grad():
                return model(x, training=False)
        return forward
    return pyfrozen_sgd_step(lambda: model(x, training=True), model.trainable_weights, labels)


def pyfrozen_split() -> dict[str, Callable[[], object]]:
    """Configuration c cut in two: what c should cost is the sum of these.

    ``bottom``: the frozen layers' no_grad inference forward; ``top``: a training step
    of the trainable layers and the head alone, on the bottom's (fixed) output. The
    layers are called one by one (the base is a chain).
    """
    import pyfrozen

    model = pyfrozen_model("c")
    base = model.layers[1]
    layers = base.layers[1:]  # after the InputLayer
    cut = [layer.name for layer in layers].index(FREEZE_UNTIL) + 1
    x_np, labels = data()
    x = pyfrozen.tensor(x_np)

    def bottom() -> Any:
        with pyfrozen.no_grad():
            h = x
            for layer in layers[:cut]:
                h = layer(h, training=False)
            return h

    middle = bottom()

    def top_forward() -> Any:
        h = middle
        for layer in [*layers[cut:], *model.layers[2:]]:
            h = layer(h, training=True)
        return h

    return {"bottom": bottom,
            "top": pyfrozen_sgd_step(top_forward, model.trainable_weights, labels)}


def pyfrozen_trace(config: str) -> dict[str, Any]:
    """Nodes, saved bytes and kernels by pass of one (warm) step, from ``trace()``."""
    from pyfrozen.autograd import trace

    fn = pyfrozen_fn(config)
    fn()
    with trace() as t:
        fn()
    by_pass: dict[str, list[int]] = {}
    for r in t.kernels:
        calls_macs = by_pass.setdefault(r.pass_, [0, 0])
        calls_macs[0] += r.calls
        if r.kernel in MAC_KERNELS:
            calls_macs[1] += r.work
    return {"nodes": t.nodes, "saved": t.saved_bytes, "by_pass": by_pass}


# ****** torch ******


def torch_model(torch: Any, config: str, alpha: float = ALPHA,
                freeze_until: str = FREEZE_UNTIL) -> Any:
    """The same network in torch.nn, channels_last, frozen as ``config`` says."""
    from collections import OrderedDict

    from pyfrozen.applications.mobilenet import _BLOCKS

    nn = torch.nn

    def bn(channels: int) -> Any:  # Keras's epsilon and momentum (0.99 = torch's 0.01)
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    def pad() -> Any:  # TF 'same' at stride 2: one extra row/column at the bottom/right
        return nn.ZeroPad2d((0, 1, 0, 1))

    c = int(32 * alpha)
    layers: list[tuple[str, Any]] = [
        ("conv1_pad", pad()), ("conv1", nn.Conv2d(3, c, 3, 2, bias=False)),
        ("conv1_bn", bn(c)), ("conv1_relu", nn.ReLU6(inplace=True))]
    for block, (filters, stride) in enumerate(_BLOCKS, start=1):
        f = int(filters * alpha)
        if stride != 1:
            layers.append((f"conv_pad_{block}", pad()))
        layers += [
            (f"conv_dw_{block}", nn.Conv2d(c, c, 3, stride, padding=1 if stride == 1 else 0,
                                           groups=c, bias=False)),
            (f"conv_dw_{block}_bn", bn(c)), (f"conv_dw_{block}_relu", nn.ReLU6(inplace=True)),
            (f"conv_pw_{block}", nn.Conv2d(c, f, 1, bias=False)),
            (f"conv_pw_{block}_bn", bn(f)), (f"conv_pw_{block}_relu", nn.ReLU6(inplace=True))]
        c = f
    base = nn.Sequential(OrderedDict(layers))
    model = nn.Sequential(OrderedDict([
        ("base", base), ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
        ("head", nn.Linear(c, CLASSES))]))
    model = model.to(memory_format=torch.channels_last)
    if config in ("b", "forward"):
        base.requires_grad_(False)
        base.eval()
    elif config == "c":
        for name, module in base.named_children():
            module.requires_grad_(False)
            module.eval()  # BatchNorm: running statistics, as a frozen Keras layer
            if name == freeze_until:
                break
    return model


def torch_input(torch: Any) -> tuple[Any, Any]:
    """``data()`` as torch tensors: NHWC memory viewed as channels_last NCHW."""
    x_np, labels_np = data()
    return torch.from_numpy(x_np).permute(0, 3, 1, 2), torch.from_numpy(labels_np)


def torch_sgd_step(torch: Any, forward: Callable[[], Any], params: list[Any],
                   labels: Any, momentum: float = 0.0) -> Callable[[], object]:
    """forward(), cross-entropy, backward, ``torch.optim.SGD`` on ``params``."""
    opt = torch.optim.SGD(params, lr=LEARNING_RATE, momentum=momentum)
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> object:
        loss = cross_entropy(forward(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss
    return step


def torch_fn(torch: Any, config: str) -> Callable[[], object]:
    """One training step (or the no_grad forward) of a fresh torch model."""
    model = torch_model(torch, config)
    x, labels = torch_input(torch)
    if config == "forward":
        def forward() -> object:
            with torch.no_grad():
                return model(x)
        return forward
    params = [p for p in model.parameters() if p.requires_grad]
    return torch_sgd_step(torch, lambda: model(x), params, labels)


def torch_split(torch: Any) -> dict[str, Callable[[], object]]:
    """torch's configuration c cut in two, as ``pyfrozen_split``."""
    model = torch_model(torch, "c")
    children = list(model.base.named_children())
    cut = [name for name, _ in children].index(FREEZE_UNTIL) + 1
    lower = torch.nn.Sequential(*[m for _, m in children[:cut]])
    upper = torch.nn.Sequential(*[m for _, m in children[cut:]], model.gap, model.flatten,
                                model.head)
    x, labels = torch_input(torch)

    def bottom() -> Any:
        with torch.no_grad():
            return lower(x)

    middle = bottom()
    params = [p for p in upper.parameters() if p.requires_grad]
    return {"bottom": bottom, "top": torch_sgd_step(torch, lambda: upper(middle), params, labels)}


def torch_saved(torch: Any, config: str) -> int:
    """Bytes of the tensors torch's autograd saves for backward in one step.

    Each storage once; parameters left out (pyfrozen's trace does not count them either).
    """
    model = torch_model(torch, config)
    x, labels = torch_input(torch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: Any) -> Any:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
    del loss
    return sum(saved.values())


# ****** children: every measurement in a fresh process ******
#
# glibc hands big freed blocks back to the kernel and raises its thresholds after
# seeing big frees, so whether a step re-faults its memory depends on what ran before
# in the process. A user's training loop runs one configuration: so do the children.


def build_fns(library: str, configs: Sequence[str],
              warm: bool = True) -> tuple[Any, dict[str, CountingFaults]]:
    """torch (or None), and the library's functions wrapped to count faults.

    ``warm``: call each a few times first, and count faults from then on.
    """
    torch = optional_torch() if library == "torch" else None
    if library == "torch" and torch is None:
        sys.exit("bench_freezing compares with torch: pip install torch==2.13.0")
    fns: dict[str, Callable[[], object]] = {}
    for config in configs:
        if config in CONFIGS:
            fns[config] = torch_fn(torch, config) if torch else pyfrozen_fn(config)
    if "top" in configs:
        fns.update(torch_split(torch) if torch else pyfrozen_split())
    counted = {name: CountingFaults(fn) for name, fn in fns.items()}
    for fn in counted.values() if warm else ():
        for _ in range(WARM_CALLS):
            fn()
        fn.reset()  # count the steady state only
    return torch, counted


def timed(fn: Callable[[], Any], quick: bool) -> tuple[Any, Load, int]:
    """``fn()`` on a quiet machine: wait for quiet, retry while others took > 10 %."""
    return least_contended(fn, Quiet(), attempts=1 if quick else 3,
                           quiet_wait_s=2.0 if quick else 120.0)


def child_pair(config: str, quick: bool) -> dict[str, Any]:
    """pyfrozen and torch steps of ``config`` interleaved (``time_pair``)."""
    torch = optional_torch()
    limiter = set_threads(1, torch)
    _, ours = build_fns("pyfrozen", [config])
    _, peer = build_fns("torch", [config])
    o, p = ours[config], peer[config]
    (s_ours, s_peer, ratio), load, tries = timed(lambda: time_pair(o, p, quick), quick)
    del limiter
    return {"ours": asdict(s_ours), "peer": asdict(s_peer), "ratio": asdict(ratio),
            "faults": [o.per_call(), p.per_call()], "load": asdict(load), "tries": tries}


GROUP = ("forward", "a", "b", "c", "bottom", "top")


def child_group(library: str, quick: bool) -> dict[str, Any]:
    """One library's configurations and c's two halves, all interleaved (``time_group``)."""
    limiter = set_threads(1, optional_torch() if library == "torch" else None)
    _, fns = build_fns(library, GROUP)
    samples, load, tries = timed(lambda: time_group(fns, quick), quick)
    del limiter
    return {"samples": samples, "faults": {k: f.per_call() for k, f in fns.items()},
            "load": asdict(load), "tries": tries}


def live_peak_pyfrozen(fn: Callable[[], object]) -> int:
    """Peak bytes of Python/numpy allocations made during one step (``tracemalloc``)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()  # the first traced step: allocations of later steps then look the same
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def live_peak_torch(fn: Callable[[], object]) -> int:
    """Peak bytes of torch's CPU allocations during one step (profiler memory events)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def child_memory(library: str, config: str) -> dict[str, Any]:
    """One configuration's step memory, alone in this process."""
    limiter = set_threads(1, optional_torch() if library == "torch" else None)
    torch, fns = build_fns(library, [config], warm=False)
    fn = fns[config]
    before = rss_bytes() or 0
    reset = reset_peak_rss()
    for _ in range(MEMORY_STEPS):
        fn()
    peak = peak_rss_bytes()
    live = live_peak_torch(fn) if torch is not None else live_peak_pyfrozen(fn)
    del limiter
    return {"rss_rise": peak - before, "reset": reset, "live_peak": live}


def run_child(*args: str, keep_heap: bool = False) -> dict[str, Any]:
    """This script with ``--child ARGS`` in a fresh interpreter (same affinity and cwd)."""
    return run_json(str(Path(__file__).resolve()), ["--child", *args],
                    "keep-heap" if keep_heap else "default")


def child_main(args: Sequence[str]) -> None:
    kind, *rest = args
    quick = rest[-1] == "quick"
    if kind == "pair":
        result = child_pair(rest[0], quick)
    elif kind == "group":
        result = child_group(rest[0], quick)
    else:
        result = child_memory(rest[0], rest[1])
    print(json.dumps(result))


# ****** report ******


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def faults_cell(per_call: Sequence[float]) -> str:
    """``faults (system ms)`` per step."""
    return f"{per_call[0]:.0f} ({per_call[1] * 1e3:.1f})"


def load_cell(result: dict[str, Any]) -> str:
    return f"{Load(**result['load']).fmt()} ({result['tries']})"


def backward_share(traces: dict[str, dict[str, Any]], config: str) -> float:
    """Multiply-adds of the backward passes ``config`` runs, as a share of config a's."""
    def macs(c: str) -> int:
        return sum(traces[c]["by_pass"].get(p, [0, 0])[1] for p in BACKWARD_PASSES)
    return macs(config) / macs("a")


def trace_rows(traces: dict[str, dict[str, Any]], saved_torch: dict[str, int]) -> list[list[str]]:
    rows = []
    for config, t in traces.items():
        cells = [CONFIGS[config], str(t["nodes"]), mb(t["saved"]), mb(saved_torch[config])]
        for p in ("forward", "backward_input", "backward_weight"):
            calls, macs = t["by_pass"].get(p, [0, 0])
            cells.append(f"{calls} / {macs / 1e6:.1f}")
        cells.append(f"{backward_share(traces, config):.2f}")
        rows.append(cells)
    return rows


def pair_row(config: str, r: dict[str, Any]) -> list[str]:
    o, p, ratio = Stats(**r["ours"]), Stats(**r["peer"]), Stats(**r["ratio"])
    return [CONFIGS[config], ms(o.median), ms(p.median), ratio.fmt(2, "x"),
            faults_cell(r["faults"][0]), faults_cell(r["faults"][1]), str(o.n), load_cell(r)]


def group_rows(library: str, r: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The ratio row and the medians row of one library's interleaved group."""
    s = r["samples"]
    f, a, b, c = (s[k] for k in ("forward", "a", "b", "c"))
    ideal_c = [lo + hi for lo, hi in zip(s["bottom"], s["top"], strict=True)]
    ratios = [library, ratio_stats(f, a).fmt(2, "x"), ratio_stats(f, b).fmt(2, "x"),
              ratio_stats(f, c).fmt(2, "x"), ratio_stats(a, b).fmt(2),
              ratio_stats(a, c).fmt(2), ratio_stats(ideal_c, c).fmt(2, "x"), load_cell(r)]
    medians = [library]
    for k in GROUP:
        faults = r["faults"][k][0]
        medians.append(f"{ms(Stats.of(s[k]).median)} ({faults:.0f})")
    medians.append(ms(Stats.of(ideal_c).median))
    return ratios, medians


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--keep-heap", action="store_true",
                    help="run the measurements with glibc keeping freed memory (no re-faults)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    torch = optional_torch()
    if torch is None:
        sys.exit("bench_freezing compares with torch: pip install torch==2.13.0")
    started = time.perf_counter()
    limiter = set_threads(1, torch)
    md = args.markdown
    speed = "quick" if args.quick else "full"

    traces = {config: pyfrozen_trace(config) for config in CONFIGS}
    saved_torch = {config: torch_saved(torch, config) if config != "forward" else 0
                   for config in CONFIGS}
    keep = args.keep_heap
    pairs = {config: run_child("pair", config, speed, keep_heap=keep) for config in CONFIGS}
    groups = {lib: run_child("group", lib, speed, keep_heap=keep) for lib in ("pyfrozen", "torch")}
    memory = {(lib, config): run_child("memory", lib, config, speed, keep_heap=keep)
              for config in CONFIGS for lib in ("pyfrozen", "torch")}

    print(f"Machine: {machine_line(1, torch)}\n")
    heap = " ".join(f"{k}={v}" for k, v in KEEP_HEAP.items()) if keep else "glibc defaults"
    print(f"Allocator: {heap}\n")
    print("Step time, each configuration in its own process, pyfrozen and torch interleaved "
          "(A B A B); faults = minor page faults per step (system ms per step)\n")
    print(table(["configuration", "pyfrozen ms", "torch ms", "torch/pyfrozen",
                 "pyfrozen faults", "torch faults", "pairs", "load % (tries)"],
                [pair_row(config, r) for config, r in pairs.items()], md))
    rows = [group_rows(lib, r) for lib, r in groups.items()]
    print("\nSame-run ratios, one process per library with all its configurations "
          "interleaved: F = forward floor; a, b, c = steps; ideal c = c's two halves run "
          "apart: no_grad forward of the frozen layers (bottom) + a training step of the "
          "rest on their output (top)\n")
    print(table(["library", "a / F", "b / F", "c / F", "b / a", "c / a", "c / ideal c",
                 "load % (tries)"], [ratio for ratio, _ in rows], md))
    print("\nThe same runs' medians, ms (page faults per call)\n")
    print(table(["library", "F", "a", "b", "c", "c bottom", "c top", "ideal c"],
                [medians for _, medians in rows], md))
    print("\nWhat one step records (pyfrozen trace(); torch: saved_tensors_hooks). Kernels: "
          "calls of every kernel in the pass / million multiply-adds of the conv and dense "
          "kernels\n")
    print(table(["configuration", "tape nodes", "pyfrozen saved MB", "torch saved MB",
                 "forward", "backward_input", "backward_weight", "backward MACs vs a"],
                trace_rows(traces, saved_torch), md))
    print(f"\nMemory of the step (MB), one fresh process per library and configuration: "
          f"RSS rise = peak RSS over {MEMORY_STEPS} steps minus the RSS before the first "
          f"(model built; peak reset with clear_refs); live peak = peak bytes of arrays "
          f"allocated during one steady step (pyfrozen: tracemalloc, which sees numpy's "
          f"allocations; torch: profiler memory events); saved = the tape's saved bytes\n")
    mem_rows = []
    for config in CONFIGS:
        m_ours, m_peer = memory["pyfrozen", config], memory["torch", config]
        mem_rows.append([CONFIGS[config], mb(m_ours["rss_rise"]), mb(m_peer["rss_rise"]),
                         mb(m_ours["live_peak"]), mb(m_peer["live_peak"]),
                         mb(traces[config]["saved"]), mb(saved_torch[config])])
    print(table(["configuration", "pyfrozen RSS rise", "torch RSS rise", "pyfrozen live peak",
                 "torch live peak", "pyfrozen saved", "torch saved"], mem_rows, md))
    if not all(m["reset"] for m in memory.values()):
        print("\n(peak RSS could not be reset: RSS rises are measured from import's peak)")
    min_rounds = 3 if args.quick else MIN_PAIRS
    print(f"\nfloat32, batch {BATCH}, {SIZE}x{SIZE}x3, alpha {ALPHA}, 1 thread; torch "
          f"channels_last. Times: median ms per step; ratios: median (min-max) of per-round "
          f"ratios, >= {min_rounds} rounds. Load: other processes' CPU use on our CPUs / on "
          f"all CPUs / host steal, % of one CPU (tries: attempts to find the machine quiet). "
          f"Wall time: {time.perf_counter() - started:.0f} s")
    del limiter


if __name__ == "__main__":
    main()
