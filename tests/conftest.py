"""Shared fixtures. Tests import the *installed* pyfrozen (--import-mode=importlib,
no __init__.py here, and no conftest at the repo root), never the source tree."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

import pyfrozen


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(params=pyfrozen.supported_isas())
def isa(request: pytest.FixtureRequest):
    """Runs the test once per instruction-set path this CPU has (generic always)."""
    before = pyfrozen.get_isa()
    pyfrozen.set_isa(request.param)
    yield request.param
    pyfrozen.set_isa(before)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request: pytest.FixtureRequest):
    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(request.param)
    yield request.param
    pyfrozen.set_num_threads(before)


@pytest.fixture(scope="session")
def torch():
    """PyTorch as an optional oracle: skipped for users without it, but a failure
    when PYFROZEN_REQUIRE_TORCH=1 (set by .ci/run), so CI never skips silently."""
    if os.environ.get("PYFROZEN_REQUIRE_TORCH") == "1":
        return importlib.import_module("torch")
    return pytest.importorskip("torch")
