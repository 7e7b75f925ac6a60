"""The C++ side of the installed package: the C++ tests and a find_package consumer.

Builds ``csrc/tests`` and ``examples/cpp/dense_layer`` against the *installed* pyfrozen
(its CMake package, headers and ``libpyfrozen_core.so``), the way a user embedding the
core would, and runs them. CI's single pytest command thereby covers the C++ code, so
nothing here skips: a missing ``cmake`` (the ``[test]`` extra) or C++ compiler fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import pyfrozen

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 300  # seconds per configure / build / run step


# ---- helpers -------------------------------------------------------------------------


def _declared_cpp_tests() -> list[str]:
    """The CTest names csrc/tests/CMakeLists.txt declares (one executable per header)."""
    text = (REPO / "csrc" / "tests" / "CMakeLists.txt").read_text()
    names = re.search(r"^foreach\(name ([\w ]+)\)", text, flags=re.M)
    assert names, "csrc/tests/CMakeLists.txt: no foreach(name ...) list of tests"
    extra = re.findall(r"^add_test\(NAME (\w+) ", text, flags=re.M)
    return names.group(1).split() + extra


def _find_tool(name: str) -> str | None:
    """``name`` from the running interpreter's environment (pip's cmake/ninja), else PATH."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / name, scripts / f"{name}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def _run(cmd: list[str], what: str, **kwargs) -> str:
    """Runs cmd with stdout and stderr captured together; fails the test showing both."""
    try:
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_TIMEOUT,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} timed out after {STEP_TIMEOUT} s: {cmd}\n{exc.output or ''}")
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit status {proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"{proc.stdout}",
            pytrace=False,
        )
    return proc.stdout


class CMake:
    """cmake/ctest plus the generator options every configure step uses."""

    def __init__(self, cmake: str) -> None:
        self.cmake = cmake
        ctest = Path(cmake).with_name("ctest" + Path(cmake).suffix)
        self.ctest = str(ctest) if ctest.is_file() else shutil.which("ctest")
        ninja = _find_tool("ninja")
        # Ninja when available (fast, parallel by default), else CMake's default generator.
        self.generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []

    def configure(self, source: Path, build: Path, *defs: str) -> str:
        cmd = [self.cmake, "-S", str(source), "-B", str(build), *self.generator]
        cmd += ["-DCMAKE_BUILD_TYPE=Release", *defs]
        out = _run(cmd, f"configuring {source.name}")
        return out

    def build(self, build: Path) -> str:
        jobs = str(os.cpu_count() or 2)
        return _run([self.cmake, "--build", str(build), "--parallel", jobs], "building")


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cmake() -> CMake:
    exe = _find_tool("cmake")
    if exe is None:
        pytest.fail(
            "cmake was not found: install the test extra (pip install 'pyfrozen[test]') or "
            "put cmake on PATH. The C++ tests are part of the suite and are never skipped.",
            pytrace=False,
        )
    tools = CMake(exe)
    if tools.ctest is None:
        pytest.fail(f"ctest was not found next to {exe} nor on PATH", pytrace=False)
    return tools


@pytest.fixture(scope="module")
def cxx_compiler() -> str:
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    for name in names:
        found = shutil.which(name.split()[0])
        if found:
            return found
    pytest.fail(
        f"no C++ compiler found (tried {', '.join(names)}): install one (e.g. g++) or set CXX. "
        "The C++ tests are part of the suite and are never skipped.",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def cmake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed package's CMake folder, as ``python -m pyfrozen --cmake-dir`` says.

    Run outside the clone (cwd is a temporary folder): from the repository root,
    ``python -m pyfrozen`` would import the source tree instead of the installed package.
    """
    cwd = tmp_path_factory.mktemp("cli")
    out = _run([sys.executable, "-m", "pyfrozen", "--cmake-dir"], "python -m pyfrozen", cwd=cwd)
    path = Path(out.strip())
    from pyfrozen.__main__ import cmake_dir as in_process

    assert path == in_process(), "the CLI and the imported package disagree"
    assert (path / "pyfrozenConfig.cmake").is_file(), f"no pyfrozenConfig.cmake in {path}"
    return path


@pytest.fixture(scope="module")
def package_dir(cmake_dir: Path) -> Path:
    """The installed pyfrozen folder (<site-packages>/pyfrozen)."""
    return cmake_dir.parents[2]


# ---- tests ---------------------------------------------------------------------------


def test_installed_package_is_tested(package_dir: Path) -> None:
    # Everything below must exercise the installed copy, never the source tree (with an
    # editable install only the Python files are the checkout's: compare with _core's).
    assert Path(pyfrozen._core.__file__).resolve().parent == package_dir.resolve()
    # (The venv may live inside the clone, as CI's .venv does: compare with the sources.)
    assert package_dir.resolve() != (REPO / "pyfrozen").resolve(), (
        f"pyfrozen resolves to the source folder {package_dir}: install it and run pytest "
        "with --import-mode=importlib"
    )


def test_cmake_package_is_relocatable(cmake_dir: Path, package_dir: Path) -> None:
    lib = package_dir / "libpyfrozen_core.so"
    assert lib.is_file(), f"the core library is not installed at {lib}"
    # Wheels cannot hold symlinks: no libpyfrozen_core.so.0 -> ... chains.
    assert not lib.is_symlink()
    assert not list(package_dir.glob("libpyfrozen_core.so.*")), "SOVERSION copies in the package"
    for header in ("pyfrozen.hpp", "gemm.hpp", "version.hpp"):
        assert (package_dir / "include" / "pyfrozen" / header).is_file(), header
    for name in ("pyfrozenConfig.cmake", "pyfrozenConfigVersion.cmake", "pyfrozenTargets.cmake"):
        assert (cmake_dir / name).is_file(), f"{name} missing from {cmake_dir}"

    # The package is found from wherever pip put it, so its CMake files must only use
    # paths relative to their own location: no build folder or install prefix baked in.
    forbidden = {str(REPO), "/tmp/", "_skbuild", "build/cpp", str(package_dir)}
    absolute = re.compile(r"""(?<![\w}.$)/-])/(?:[\w.+-]+/)*[\w.+-]+""")
    for cfg in sorted(cmake_dir.glob("*.cmake")):
        code = [ln for ln in cfg.read_text().splitlines() if not ln.lstrip().startswith("#")]
        text = "\n".join(code)
        for needle in forbidden:
            assert needle not in text, f"{cfg.name} contains the absolute path {needle!r}"
        found = absolute.findall(text)
        assert not found, f"{cfg.name} has absolute paths: {found}"


def test_cpp_tests_against_installed_package(
    cmake: CMake, cxx_compiler: str, cmake_dir: Path, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    out = cmake.configure(REPO / "csrc" / "tests", build, f"-Dpyfrozen_DIR={cmake_dir}")
    # The tests link the installed library, not some other copy.
    tested = re.search(r"pyfrozen tests: testing (\S+)", out)
    assert tested, out
    installed_lib = cmake_dir.parents[2] / "libpyfrozen_core.so"
    assert Path(tested.group(1)).resolve() == installed_lib.resolve(), out
    cmake.build(build)
    out = _run([cmake.ctest, "--output-on-failure"], "ctest", cwd=build)
    # CMake 3 says "100% tests passed, 0 tests failed out of 3", CMake 4 drops the middle.
    expected = _declared_cpp_tests()
    match = re.search(r"100% tests passed(?:, 0 tests failed)? out of (\d+)", out)
    assert match and int(match.group(1)) == len(expected), out
    for name in expected:
        assert re.search(rf"Test\s+#\d+: {name} \.+\s+Passed", out), f"{name} did not run\n{out}"
    # Each executable counted its checks and printed its closing line.
    log = (build / "Testing" / "Temporary" / "LastTest.log").read_text()
    summaries = re.findall(r"^(\d+) passed, (\d+) failed$", log, flags=re.M)
    assert len(summaries) == len(expected), log
    assert all(int(p) > 0 and f == "0" for p, f in summaries), log


def test_consumer_project_build_and_install(
    cmake: CMake, cxx_compiler: str, package_dir: Path, tmp_path: Path
) -> None:
    build, prefix = tmp_path / "build", tmp_path / "prefix"
    # Found the way a plain-CMake user would: site-packages on CMAKE_PREFIX_PATH
    # (CMake searches <prefix>/pyfrozen/lib/cmake/pyfrozen).
    cmake.configure(
        REPO / "examples" / "cpp" / "consumer",
        build,
        f"-DCMAKE_PREFIX_PATH={package_dir.parent}",
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
    )
    cmake.build(build)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}

    out = _run([str(build / "dense_layer")], "dense_layer (build tree)", env=env)
    assert "forward and backward match naive loops" in out, out
    out = _run([str(build / "conv_bn_step")], "conv_bn_step (build tree)", env=env)
    assert "conv + batchnorm step: forward and gradients match" in out, out
    # A few SGD steps (mse, backward, sgd_update) lower the loss, with BN trained or frozen.
    losses = re.search(r"loss ([\d.]+) -> ([\d.]+) \(batch-stat BN\), ([\d.]+) -> ([\d.]+)", out)
    assert losses, out
    first, last, first_frozen, last_frozen = map(float, losses.groups())
    assert last < 0.9 * first and last_frozen < 0.9 * first_frozen, out
    assert "conv + batchnorm training: the loss fell" in out, out

    _run([cmake.cmake, "--install", str(build)], "cmake --install")
    installed = prefix / "bin" / "dense_layer"
    assert installed.is_file(), f"nothing installed at {installed}"
    # Its own INSTALL_RPATH must lead it to libpyfrozen_core.so: no LD_LIBRARY_PATH help.
    out = _run([str(installed)], "dense_layer (installed)", env=env, cwd=tmp_path)
    assert "forward and backward match naive loops" in out, out
    out = _run([str(prefix / "bin" / "conv_bn_step")], "conv_bn_step (installed)", env=env,
               cwd=tmp_path)
    assert "conv + batchnorm step: forward and gradients match" in out, out
    assert "conv + batchnorm training: the loss fell" in out, out
