"""The layering rule of the design (layout.md), checked on the source tree with ast.

Each layer may use only the layers listed before it: _core, the engine (tensor.py,
autograd/, ops/), then layers/, optimizers/, models/, and applications/ on
top. io/, datasets/ and initializers.py are leaf utilities: usable by layers and above,
and importing nothing of pyfrozen but _core (nor anything outside the standard library
but numpy and safetensors). Imports inside functions count too: a late import is still
a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "pyfrozen"


class Layer(NamedTuple):
    name: str
    rank: int  # may import layers of lower or equal rank
    leaf: bool = False  # may import only _core (and its own files)


CORE = Layer("_core", 0)
ENGINE = Layer("engine", 1)
LAYERS = Layer("layers", 3)
MODELS = Layer("models", 5)
FACADE = Layer("facade", 7)  # pyfrozen/__init__.py and the command line: use everything

# Where every part of pyfrozen/ sits ("name/" is a package). Parts that do not exist yet
# are listed too, so the rule holds from their first file on. Leaves rank between the
# engine and layers/: the engine cannot use them, layers and above can.
RULES: dict[str, Layer] = {
    "_core": CORE,  # the compiled binding; only its stub _core.pyi is in the tree
    "tensor.py": ENGINE,
    "autograd/": ENGINE,
    "ops/": ENGINE,
    "io/": Layer("io", 2, leaf=True),
    "datasets/": Layer("datasets", 2, leaf=True),
    "initializers.py": Layer("initializers", 2, leaf=True),
    "utils.py": Layer("utils", 2),  # set_random_seed: seeds the engine's generators
    "layers/": LAYERS,
    "losses/": LAYERS,  # Keras: built from ops, used by Model.compile
    "metrics/": LAYERS,
    "optimizers/": Layer("optimizers", 4),
    "models/": MODELS,
    "callbacks/": MODELS,  # drive Model.fit
    "saving/": Layer("saving", 6),  # Keras / tfjs / ONNX files: build and read models
    "applications/": Layer("applications", 6),
    "testing.py": Layer("testing", 6),  # check_op / check_layer test ops and layers
    # Data-parallel training over MPI: drives models through models/distribution.py (models
    # never imports it); mpi4py is imported inside functions, only when a strategy is made.
    "distributed/": Layer("distributed", 6),
    "__init__.py": FACADE,
    "__main__.py": FACADE,
    "demo/": FACADE,
}

# h5py: io/h5.py reads and writes Keras 3's HDF5 weight files; it is an optional extra
# (pyfrozen[keras]) imported inside functions, so pyfrozen imports without it.
LEAF_THIRD_PARTY = {"numpy", "safetensors", "h5py"}

# ---------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------


def layer_of(module: str) -> Layer | None:
    """The layer of a dotted module under pyfrozen, None if the table does not place it."""
    parts = module.split(".")[1:]
    if not parts:
        return FACADE  # "import pyfrozen": the facade
    return RULES.get(parts[0] + "/") or RULES.get(parts[0] + ".py") or RULES.get(parts[0])


def layer_of_file(relpath: str) -> Layer | None:
    """The layer of a source file, by its path relative to pyfrozen/."""
    parts = Path(relpath).parts
    return RULES.get(parts[0] + "/" if len(parts) > 1 else parts[0])


def _module_of(relpath: str) -> str:
    """``ops/conv.py`` -> ``pyfrozen.ops.conv``; ``ops/__init__.py`` -> ``pyfrozen.ops``."""
    parts = ["pyfrozen", *Path(relpath).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.Import | ast.ImportFrom, relpath: str) -> list[str]:
    """The modules an import names; ``from pyfrozen import x`` names ``pyfrozen.x`` when x
    is a part the table places, else the facade ``pyfrozen`` (x is one of its names)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the file's package, up level - 1 packages
        package = _module_of(relpath).split(".")
        if not relpath.endswith("__init__.py"):
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    if base != "pyfrozen":
        return [base]
    subs = [f"pyfrozen.{alias.name}" for alias in node.names]
    return [sub if layer_of(sub) is not None else "pyfrozen" for sub in subs]


def _why_not(importer: Layer, target: str) -> str | None:
    """Why a module of ``importer`` may not import ``target``; None when it may."""
    if target != "pyfrozen" and not target.startswith("pyfrozen."):
        top = target.split(".")[0]
        allowed = top in LEAF_THIRD_PARTY or top in sys.stdlib_module_names
        if importer.leaf and not allowed:
            return "a leaf utility uses only numpy, safetensors, h5py and the standard library"
        return None
    layer = layer_of(target)
    if layer is None:
        return "the layering table does not place it (add it to RULES)"
    if layer.name == importer.name:
        return None
    if importer.leaf and layer is not CORE:
        return f"{importer.name} is a leaf utility: of pyfrozen it may import only _core"
    if layer.rank > importer.rank:
        return f"{importer.name} must not import {layer.name}, a layer above it"
    return None


def violations(relpath: str, source: str) -> list[str]:
    """Every forbidden import of one file, as ``pyfrozen/<path>:<line>: imports <module>:
    <reason>``; functions, classes and ``if`` blocks are searched too."""
    importer = layer_of_file(relpath)
    if importer is None:
        return [f"pyfrozen/{relpath}: the layering table does not place it (add it to RULES)"]
    found = []
    for node in ast.walk(ast.parse(source, filename=relpath)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _targets(node, relpath):
                reason = _why_not(importer, target)
                if reason:
                    found.append(f"pyfrozen/{relpath}:{node.lineno}: imports {target}: {reason}")
    return found


# ---------------------------------------------------------------------------------------
# The source tree
# ---------------------------------------------------------------------------------------

FILES = sorted(p.relative_to(SOURCE).as_posix() for p in SOURCE.rglob("*.py"))


def test_the_source_tree_is_found():
    assert {"tensor.py", "ops/conv.py", "autograd/tape.py", "io/weights.py"} <= set(FILES)


@pytest.mark.parametrize("relpath", FILES)
def test_no_module_imports_upward(relpath):
    found = violations(relpath, (SOURCE / relpath).read_text())
    assert not found, "\n".join(found)


# ---------------------------------------------------------------------------------------
# The rule itself, on layers that do not all exist yet
# ---------------------------------------------------------------------------------------

ALLOWED = [
    ("ops/x.py", "from pyfrozen import _core, autograd\nfrom pyfrozen.tensor import Tensor"),
    ("ops/x.py", "from ..tensor import Tensor\nfrom . import _util\nimport numpy"),
    ("tensor.py", "from pyfrozen import ops as _ops"),
    ("testing.py", "def f():\n    import torch"),  # the engine may use optional packages
    ("layers/dense.py", "from pyfrozen import initializers, ops\nfrom pyfrozen.io import x"),
    ("optimizers/sgd.py", "from pyfrozen.layers import Layer\nfrom pyfrozen import _core"),
    ("models/model.py", "from pyfrozen.optimizers import SGD\nfrom pyfrozen.io import w"),
    ("applications/mobilenet.py", "from pyfrozen.models import Sequential"),
    ("io/__init__.py", "from pyfrozen.io.weights import save\nfrom .weights import load"),
    ("io/weights.py", "import json, safetensors.numpy\nfrom pyfrozen import _core"),
    ("__init__.py", "from pyfrozen.applications import mobilenet"),
]

FORBIDDEN = [
    ("ops/x.py", "from pyfrozen.layers import Dense", "engine must not import layers"),
    ("ops/x.py", "def f():\n    from pyfrozen.models import Model", "engine must not import"),
    ("ops/x.py", "import pyfrozen", "engine must not import facade"),
    ("ops/x.py", "from pyfrozen import Tensor", "imports pyfrozen: engine must not import"),
    ("ops/x.py", "from ..io import save", "imports pyfrozen.io: engine must not import io"),
    ("autograd/x.py", "from pyfrozen import initializers", "must not import initializers"),
    ("tensor.py", "if True:\n    import pyfrozen.optimizers.sgd", "must not import optim"),
    ("layers/dense.py", "from pyfrozen.models import Model", "layers must not import models"),
    ("optimizers/sgd.py", "from pyfrozen.models import fit", "must not import models"),
    ("models/model.py", "from pyfrozen.applications import x", "must not import applic"),
    ("io/weights.py", "from pyfrozen.tensor import Tensor", "may import only _core"),
    ("io/weights.py", "import torch", "uses only numpy, safetensors, h5py and the standard"),
    ("datasets/digits.py", "from pyfrozen import initializers", "may import only _core"),
    ("initializers.py", "from pyfrozen.datasets import load", "may import only _core"),
    ("ops/x.py", "from pyfrozen.nowhere import x", "does not place it"),
    ("nowhere.py", "import numpy", "nowhere.py: the layering table does not place it"),
]


def _id(value: str) -> str:
    return value.replace("\n", "; ")[:48]


@pytest.mark.parametrize(("relpath", "source"), ALLOWED, ids=_id)
def test_allowed_imports(relpath, source):
    assert violations(relpath, source) == []


@pytest.mark.parametrize(("relpath", "source", "reason"), FORBIDDEN, ids=_id)
def test_forbidden_imports_are_named_with_file_and_line(relpath, source, reason):
    (found,) = violations(relpath, source)
    assert reason in found
    if layer_of_file(relpath) is None:
        assert found.startswith(f"pyfrozen/{relpath}: ")
    else:  # the import's own line: the second one when it sits inside a def or an if
        assert found.startswith(f"pyfrozen/{relpath}:{source.count(chr(10)) + 1}: imports ")
