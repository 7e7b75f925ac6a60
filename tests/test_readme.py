"""The README's two commands stay true: CI runs exactly the second one."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_opens_with_two_commands():
    install_and_run, install_and_test = readme_commands()
    assert "pip install ." in install_and_run and "pyfrozen demo" in install_and_run
    assert 'pip install ".[test]"' in install_and_test and install_and_test.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    install, _, run_tests = readme_commands()[1].rpartition(" && ")
    assert install in ci
    assert run_tests in ci.splitlines()
