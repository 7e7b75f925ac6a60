"""The ``pyfrozen`` command line: plain-text help for every command and option."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import pyfrozen
from pyfrozen import __main__ as cli


def _run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    # Outside the checkout (cwd), as a user would: the console script's module.
    return subprocess.run([sys.executable, "-m", "pyfrozen", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_plain_text_and_names_every_command(tmp_path):
    proc = _run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "``" not in out and ":func:" not in out  # no reST markup
    assert out.startswith("usage: pyfrozen")
    for command in ("demo", "info", "--cmake-dir", "--include-dir", "--version"):
        assert command in out, command
    assert "pyfrozen COMMAND --help" in out


def test_no_command_prints_the_help_and_succeeds(tmp_path):
    proc = _run_cli(cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _run_cli("--help", cwd=tmp_path).stdout


def test_every_option_and_command_has_a_description():
    parser = cli.build_parser()
    for name, sub in {"pyfrozen": parser, **_subparsers(parser)}.items():
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name} {action.option_strings} has no help text"


def test_demo_help_lists_its_options(tmp_path):
    proc = _run_cli("demo", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--threads N" in proc.stdout and "--isa {" in proc.stdout
    assert "pretrain" in proc.stdout  # what it does, not only its name


def test_demo_options_take_effect_before_the_demo_runs(monkeypatch):
    import pyfrozen.demo

    seen = []
    monkeypatch.setattr(pyfrozen.demo, "run_demo",
                        lambda config: seen.append((pyfrozen.get_num_threads(),
                                                    pyfrozen.get_isa(), config.threads)))
    threads, isa = pyfrozen.get_num_threads(), pyfrozen.get_isa()
    try:
        assert cli.main(["demo", "--threads", "1", "--isa", "generic"]) == 0
    finally:
        pyfrozen.set_num_threads(threads)
        pyfrozen.set_isa(isa)
    assert seen == [(1, "generic", 1)]


@pytest.mark.parametrize("args, message", [
    (["demo", "--threads", "0"], "must be at least 1, got 0"),
    (["demo", "--threads", "two"], "expected a whole number, got 'two'"),
    (["demo", "--isa", "sse9"], "invalid choice: 'sse9'"),
    (["train"], "invalid choice: 'train'"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_info_prints_the_settings(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"isa: {pyfrozen.get_isa()}" in out and f"threads: {pyfrozen.get_num_threads()}" in out
