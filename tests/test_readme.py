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
    assert 'pip install ".[demo]"' in install_and_run and "pyfrozen demo" in install_and_run
    assert 'pip install ".[test]"' in install_and_test and install_and_test.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    install, _, run_tests = readme_commands()[1].rpartition(" && ")
    assert install in ci
    assert run_tests in ci.splitlines()


def _snippets() -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def _run_alone(code: str, cwd: Path) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_python_snippet_runs_alone(tmp_path):
    # Each block as written, in a fresh interpreter: none may rely on another's imports.
    snippets = _snippets()
    assert len(snippets) == 3
    for number, code in enumerate(snippets):
        folder = tmp_path / str(number)
        folder.mkdir()
        code = code.replace("/tmp/", f"{folder}/")
        stdout = _run_alone(code, folder)
        if number == 0:  # the tour: its comments state what it prints
            assert "Total params: 219,829" in stdout and "Trainable params: 1,285" in stdout
            assert "\n2 8352\n" in stdout and "['accuracy', 'loss']" in stdout
            assert "['conv_dw_13', 'conv_pw_13']" in stdout
            assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "model.keras",
                                                          "base.weights.h5"}
        elif number == 1:  # the engine
            assert stdout.strip() == "[4. 4.] None False"
        else:  # Coming from Keras
            assert stdout.strip() == "['accuracy', 'loss']"


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
