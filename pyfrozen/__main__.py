"""Command line: ``pyfrozen demo``, ``pyfrozen info``, ``pyfrozen --cmake-dir``.

Also reachable as ``python -m pyfrozen``. Run it outside a source checkout: from the
repository root ``python -m pyfrozen`` would import the uninstalled source tree, which
has no compiled core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyfrozen
from pyfrozen.demo.config import add_arguments

# The compiled files (core library, headers, CMake package) sit next to the extension
# module: in the package folder of a regular install, in site-packages for an editable
# one (pip install -e .), whose Python files stay in the checkout.
_PACKAGE_DIR = Path(pyfrozen._core.__file__).resolve().parent

# argparse shows these as they are written (RawDescriptionHelpFormatter): plain text,
# no reST markup, since that is what a terminal prints.
_DESCRIPTION = """\
pyfrozen: CPU training for models with frozen parts, where freezing makes training
cheaper. A C++ core (OpenMP, AVX2/FMA or generic path chosen at run time) under a
Keras-style Python API."""

_EPILOG = """\
examples:
  pyfrozen demo                 transfer learning, letters -> digits (about a minute)
  pyfrozen demo --quick         the same shrunk to seconds
  pyfrozen info                 the CPU path, threads and caches the kernels use
  cmake -Dpyfrozen_DIR="$(pyfrozen --cmake-dir)" ...   embed the C++ core

Run `pyfrozen COMMAND --help` for a command's options."""

_DEMO_DESCRIPTION = """\
The main job: transfer learning that shows what freezing buys, measured.
  1. pretrain a compact MobileNet-style CNN (conv, depthwise, BN, ReLU6) with fit
     on 26 printed letters (bundled, distorted glyphs) and save it;
  2. load it, cut it, freeze it and train a new head for the 10 digits from 30
     images per class (phase 1, cached features), then fine-tune its top blocks
     with BN frozen (phase 2);
  3. compare with the same CNN trained from scratch and a linear classifier on
     the raw pixels: accuracy, time per epoch, peak memory (each run in its own
     process), and what trace() saw in a frozen and a full training step.
Writes the weight files, results.json and a PNG (with matplotlib) to --out."""

_INFO_DESCRIPTION = """\
Prints the version, the instruction-set path the kernels use (PYFROZEN_ISA=generic
forces the portable one), the thread count (OMP_NUM_THREADS at start-up) and the CPU
cache sizes the GEMM blocks for."""


def cmake_dir() -> Path:
    """Folder holding pyfrozenConfig.cmake: pass it as pyfrozen_DIR or CMAKE_PREFIX_PATH."""
    return _PACKAGE_DIR / "lib" / "cmake" / "pyfrozen"


def include_dir() -> Path:
    """Folder holding the public C++ headers (``#include <pyfrozen/pyfrozen.hpp>``)."""
    return _PACKAGE_DIR / "include"


def build_parser() -> argparse.ArgumentParser:
    """The ``pyfrozen`` argument parser (its help is what ``pyfrozen --help`` prints)."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="pyfrozen", description=_DESCRIPTION,
                                     epilog=_EPILOG, formatter_class=raw)
    parser.add_argument("--version", action="version",
                        version=f"pyfrozen {pyfrozen.__version__}")
    parser.add_argument("--cmake-dir", action="store_true",
                        help="print the folder of the CMake package (pyfrozenConfig.cmake) "
                             "for find_package(pyfrozen) and exit")
    parser.add_argument("--include-dir", action="store_true",
                        help="print the folder of the public C++ headers and exit")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    demo = sub.add_parser("demo", help="transfer learning, letters -> digits, with a frozen "
                                       "base: what freezing buys, measured",
                          description=_DEMO_DESCRIPTION, formatter_class=raw)
    add_arguments(demo, pyfrozen.supported_isas())
    sub.add_parser("info", help="print the CPU path, threads and caches the kernels use",
                   description=_INFO_DESCRIPTION, formatter_class=raw)
    return parser


def _print_info() -> None:
    print(f"pyfrozen {pyfrozen.__version__} (core {pyfrozen._core.version()})")
    print(f"isa: {pyfrozen.get_isa()} (supported: {', '.join(pyfrozen.supported_isas())})")
    print(f"threads: {pyfrozen.get_num_threads()} (openmp: {pyfrozen.has_openmp()})")
    print(f"caches: {pyfrozen.cache_sizes()}")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0: done, 2: bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.cmake_dir:
        print(cmake_dir())
    elif args.include_dir:
        print(include_dir())
    elif args.command == "demo":
        from pyfrozen import demo

        if args.threads is not None:
            pyfrozen.set_num_threads(args.threads)
        if args.isa is not None:
            pyfrozen.set_isa(args.isa)
        demo.run_demo(demo.from_args(args))
    elif args.command == "info":
        _print_info()
    else:  # no command: say what there is, which is not an error
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
