"""The demo's settings: sizes, epochs and learning rates, and the command-line flags.

The defaults were chosen on the bundled glyphs so that every comparison the demo prints is
meaningful (see the README's demo section for the numbers over seeds) and the whole run
takes about a minute on two cores. ``--quick`` shrinks everything to seconds, for tests.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class DemoConfig:
    """Everything a demo run depends on; each run's process gets a copy.

    Attributes:
        seed: seeds the data split and every run (each run adds its own offset).
        threads: kernel threads in each run's process (None: pyfrozen's default).
        isa: the kernels' instruction-set path in each run's process (None: default).
        out: folder for the weight files and the PNG.
        plot: write the PNG (needs matplotlib).
        source_epochs: epochs on the letters.
        source_per_class: letters per class used for the source task (400: all).
        shots: training digits per class on the target task.
        val_per_class: digits per class scored after each epoch (the learning curves).
        phase1_epochs, phase2_epochs: head only, then the top blocks as well.
        scratch_epochs: the same network from random weights (default: both phases').
        linear_epochs: the raw-pixel linear classifier.
        unfreeze: the blocks phase 2 trains (their convolutions; BN stays frozen).
        source_lr, head_lr, finetune_lr, scratch_lr, linear_lr: Adam learning rates.
    """

    seed: int = 0
    threads: int | None = None
    isa: str | None = None
    out: Path = Path("pyfrozen-demo")
    plot: bool = True
    quick: bool = False
    source_epochs: int = 12
    source_per_class: int = 400
    shots: int = 30
    val_per_class: int = 50
    phase1_epochs: int = 40
    phase2_epochs: int = 30
    scratch_epochs: int = 70
    linear_epochs: int = 100
    unfreeze: tuple[int, ...] = (3, 4, 5)
    source_lr: float = 2e-3
    head_lr: float = 1e-2
    finetune_lr: float = 5e-4
    scratch_lr: float = 2e-3
    linear_lr: float = 1e-2
    batch_size: int = 32
    source_batch_size: int = 64

    def quickened(self) -> DemoConfig:
        """The same run shrunk to seconds: fewer letters and epochs (the numbers it prints
        show that the machinery works, not what transfer buys)."""
        return replace(self, quick=True, source_epochs=min(self.source_epochs, 2),
                       source_per_class=140, val_per_class=20, phase1_epochs=8,
                       phase2_epochs=4, scratch_epochs=6, linear_epochs=10)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in 0..2147483647, got {value}")
    return value


def _out_dir(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    return path


def add_arguments(parser: argparse.ArgumentParser, isas: list[str]) -> None:
    """Adds the demo's flags to ``parser`` (``pyfrozen demo`` and ``python -m pyfrozen.demo``).

    Args:
        parser: the parser to extend.
        isas: the instruction-set paths ``--isa`` accepts.
    """
    parser.add_argument("--seed", type=_seed, default=0,
                        help="seed of the data split and of every run (default: 0)")
    parser.add_argument("--epochs", type=_positive_int, metavar="N",
                        help="epochs on the source task, the letters (default: 12; the target "
                             "runs keep theirs)")
    parser.add_argument("--threads", type=_positive_int, metavar="N",
                        help="threads the kernels use in each run (default: OMP_NUM_THREADS, "
                             "else all cores)")
    parser.add_argument("--isa", choices=isas,
                        help="instruction-set path of the kernels (default: the best this CPU "
                             "has, or PYFROZEN_ISA)")
    parser.add_argument("--out", type=_out_dir, default=Path("pyfrozen-demo"), metavar="DIR",
                        help="folder for the weight files and the PNG (default: "
                             "./pyfrozen-demo, created if missing)")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds instead of about a minute: fewer letters and "
                             "epochs; shows the machinery, not what transfer buys (for tests)")
    parser.add_argument("--no-plot", action="store_true",
                        help="do not write the PNG (it needs matplotlib: pip install "
                             "'pyfrozen[plot]')")


def from_args(args: argparse.Namespace) -> DemoConfig:
    """The DemoConfig for parsed flags (see `add_arguments`)."""
    config = DemoConfig(seed=args.seed, threads=args.threads, isa=args.isa, out=args.out,
                        plot=not args.no_plot)
    if args.quick:
        config = config.quickened()
    if args.epochs is not None:
        config = replace(config, source_epochs=args.epochs)
    return config
