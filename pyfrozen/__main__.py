"""Command line: ``pyfrozen demo``, ``pyfrozen --cmake-dir`` (or ``python -m pyfrozen``).

Run it outside a source checkout: from the repository root ``python -m pyfrozen``
would import the uninstalled source tree, which has no compiled core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyfrozen

_PACKAGE_DIR = Path(pyfrozen.__file__).resolve().parent


def cmake_dir() -> Path:
    """Folder holding pyfrozenConfig.cmake: pass it as pyfrozen_DIR or CMAKE_PREFIX_PATH."""
    return _PACKAGE_DIR / "lib" / "cmake" / "pyfrozen"


def include_dir() -> Path:
    """Folder holding the public C++ headers (``#include <pyfrozen/pyfrozen.hpp>``)."""
    return _PACKAGE_DIR / "include"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyfrozen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=pyfrozen.__version__)
    parser.add_argument("--cmake-dir", action="store_true", help="print the CMake package folder")
    parser.add_argument("--include-dir", action="store_true", help="print the C++ header folder")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="transfer learning on the bundled digits with a frozen trunk")
    sub.add_parser("info", help="print the CPU path, threads and caches the kernels use")
    args = parser.parse_args(argv)

    if args.cmake_dir:
        print(cmake_dir())
    elif args.include_dir:
        print(include_dir())
    elif args.command == "demo":
        from pyfrozen.demo import run_demo

        run_demo()
    elif args.command == "info":
        print(f"pyfrozen {pyfrozen.__version__} (core {pyfrozen._core.version()})")
        print(f"isa: {pyfrozen.get_isa()} (supported: {', '.join(pyfrozen.supported_isas())})")
        print(f"threads: {pyfrozen.get_num_threads()} (openmp: {pyfrozen.has_openmp()})")
        print(f"caches: {pyfrozen.cache_sizes()}")
    else:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
