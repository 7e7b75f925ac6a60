"""pyfrozen/_core.pyi must describe the compiled module: same names, same parameters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pyfrozen
from pyfrozen import _core

STUB = Path(pyfrozen.__file__).with_name("_core.pyi")


def stub_functions() -> dict[str, list[str]]:
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            args = node.args
            out[node.name] = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return out


def runtime_parameters(func) -> list[str]:
    # pybind11 puts the signature on the docstring's first line: "name(a: int, *, b: ...) -> T"
    first = func.__doc__.splitlines()[0]
    inner = first[first.index("(") + 1 : first.rindex(")")]
    names = []
    for part in re.split(r",\s*(?![^\[]*\])", inner):
        part = part.strip()
        if part and part not in {"*", "/"}:
            names.append(part.split(":")[0].strip())
    return names


def test_stub_file_is_installed():
    assert STUB.is_file()


def test_stub_names_match_module():
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert set(stub_functions()) == public


def test_stub_parameters_match_module():
    for name, params in stub_functions().items():
        assert runtime_parameters(getattr(_core, name)) == params, name
