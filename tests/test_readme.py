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
    assert 'pip install ".[plot]"' in install_and_run and "pyfrozen demo" in install_and_run
    assert 'pip install ".[test]"' in install_and_test and install_and_test.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    install, _, run_tests = readme_commands()[1].rpartition(" && ")
    assert install in ci
    assert run_tests in ci.splitlines()


def test_the_tour_runs_and_prints_what_it_says(tmp_path):
    import re
    import subprocess
    import sys

    text = (REPO / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    code = code.replace("/tmp/model.safetensors", str(tmp_path / "model.safetensors"))
    code += "\nassert (w.grad.numpy() == 4.0).all() and x.grad is None and not z.requires_grad\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 219,829" in proc.stdout and "Trainable params: 1,285" in proc.stdout
    assert "\n2 8352\n" in proc.stdout
    assert proc.stdout.count("['accuracy', 'loss']") == 2  # the tour's fit, then Keras's


def test_each_command_uses_a_venv_of_its_own():
    # Run in either order on a fresh clone, neither may reuse (or half-reuse) the other's.
    import re

    venvs = []
    for command in readme_commands():
        created = re.findall(r"python3 -m venv (\S+)", command)
        used = set(re.findall(r"(\S+?)/bin/", command))
        assert len(created) == 1 and used == {created[0]}, command
        venvs.append(created[0])
    assert len(set(venvs)) == 2, venvs
    ignored = (REPO / ".gitignore").read_text().splitlines()
    for venv in venvs:  # and git ignores them
        assert f"{venv}/" in ignored or any(
            p.endswith("*/") and venv.startswith(p[:-2]) for p in ignored), venv
