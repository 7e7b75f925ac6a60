"""ONNX export: channels-first inside (one transpose at the input) vs transposes around
every convolution, timed in onnxruntime; and each file's accuracy against ``predict``.

``model.export(path, format="onnx")`` keeps the user's NHWC interface either way. With
``layout="nchw"`` (the default) values stay channels-first from the first convolution
on; ``layout="nhwc"`` transposes each convolution's / pooling's output back to NHWC
(BatchNormalization then becomes a channels-last Mul + Add). Both files are run in
onnxruntime (CPU provider, ``intra_op_num_threads`` = ``--threads``), with its default
graph optimizations and with them disabled (as a runtime without a transpose
optimizer), interleaved (A B A B, ``time_group``). Reported: median ms per batch, the
per-round ratio nhwc / nchw (> 1: the default is faster), Transpose nodes in the file and
in onnxruntime's optimized graph, and max |onnxruntime - predict|. Run it from
outside the repository root, pinned::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_onnx_layout.py --markdown
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    machine_line,
    measured,
    optional_torch,
    ratio_stats,
    set_threads,
    table,
    time_group,
)

import pyfrozen  # noqa: E402

CONFIGS = [(0.25, 96), (1.0, 224)]  # (alpha, size); with the top, logits out
LAYOUTS = ("nchw", "nhwc")


def build(alpha: float, size: int) -> Any:
    """MobileNet (logits) from a fixed seed, with random moving statistics (as after training)."""
    from pyfrozen.applications import MobileNet

    pyfrozen.utils.set_random_seed(0)
    model = MobileNet(input_shape=(size, size, 3), alpha=alpha, classifier_activation=None)
    rng = np.random.default_rng(0)
    values = [rng.uniform(0.5, 1.5, w.shape) if w.name == "moving_variance" else
              rng.normal(0, 0.2, w.shape) if w.name in ("moving_mean", "beta") else w.data
              for w in model.weights]
    model.set_weights([np.asarray(v, np.float32) for v in values])
    return model


def session(ort: Any, path: str, threads: int, optimized: str, optimize: bool) -> Any:
    options = ort.SessionOptions()
    if not optimize:  # a runtime without onnxruntime's transpose optimizer
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.optimized_model_filepath = optimized
    options.log_severity_level = 3  # not the warning that the optimized file is host-specific
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def transposes(onnx: Any, path: str) -> int:
    return sum(n.op_type == "Transpose" for n in onnx.load(path).graph.node)


def measure(ort: Any, onnx: Any, config: tuple, batch: int, threads: int, quick: bool,
            folder: str, optimize: bool) -> list[list[str]]:
    alpha, size = config
    model = build(*config)
    x = np.random.default_rng(1).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    runs, info = {}, {}
    for layout in LAYOUTS:
        path, optimized = f"{folder}/{layout}.onnx", f"{folder}/{layout}.opt.onnx"
        model.export(path, format="onnx", layout=layout)
        sess = session(ort, path, threads, optimized, optimize)
        name = sess.get_inputs()[0].name
        error = float(np.max(np.abs(sess.run(None, {name: x})[0] - expected)))
        runs[layout] = lambda sess=sess, name=name: sess.run(None, {name: x})
        info[layout] = (transposes(onnx, path), transposes(onnx, optimized), error)
    samples, load = measured(lambda: time_group(runs, quick))
    rows = []
    for layout in LAYOUTS:
        ratio = ratio_stats(samples["nchw"], samples[layout])
        file_t, opt_t, error = info[layout]
        rows.append([f"MobileNet {alpha} {size}x{size} batch {batch}",
                     "default" if optimize else "disabled", layout,
                     f"{np.median(samples[layout]) * 1e3:.2f}",
                     "1" if layout == "nchw" else ratio.fmt(3, "x"),
                     f"{file_t} / {opt_t}", f"{error:.1e}", load.fmt()])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import onnx
    import onnxruntime as ort

    torch = optional_torch()  # only for the machine line
    limiter = set_threads(args.threads, torch)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for optimize in (True, False):
            for config in CONFIGS:
                for batch in (1, 16):
                    rows += measure(ort, onnx, config, batch, args.threads, args.quick,
                                    folder, optimize)
    print(f"Machine: {machine_line(args.threads, torch)} | onnxruntime {ort.__version__}, "
          f"onnx {onnx.__version__}\n")
    headers = ["model", "ORT graph optimizations", "layout", "ms / batch", "nhwc / nchw time",
               "Transposes file / optimized", "max abs vs predict", "other load"]
    print(table(headers, rows, args.markdown))
    print("\nRatio: median (min-max) of per-round time / nchw time, interleaved in one "
          "process. Other load: other processes' CPU use while timing (here/all/steal, % "
          "of one CPU).")
    del limiter


if __name__ == "__main__":
    main()
