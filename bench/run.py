"""One benchmark harness: every suite of ``bench/`` in one run, one report.

::

    python bench/run.py [--suite kernels|autograd|train|all] [--threads 1,2] [--repeat N]
                        [--json out.json] [--quick | --smoke] [--markdown]
                        [--update-results] [--chart out.png] [--without PEER]

Each benchmark script (``suites.py``) runs as a child process, as it runs on its own,
with ``--markdown``; its tables are read back and printed again, each under its title
and the machine line. 1-thread runs are pinned to one CPU (``taskset``). A peer
(torch, onnxruntime) that cannot be imported skips the scripts that need it, with a
line saying so; ``--without PEER`` hides an installed one from the children (to see
that path). ``--update-results`` rewrites the current-results section of
``bench/RESULTS.md`` (the history below it is kept) and writes the chart next to it::

    python bench/run.py --suite all --markdown --update-results
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import allowed_cpus  # noqa: E402
from memory import ALLOCATOR_MODES  # noqa: E402
from report import Table, parse_markdown_output  # noqa: E402
from results import repeat_summary, update_results, write_chart  # noqa: E402
from suites import SUITES, Script, scripts_of  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
CHART = BENCH / "results_chart.png"


# ****** children ******


def child_env(without: Sequence[str], blockers: Path) -> dict[str, str]:
    """The environment of every child: ``without`` peers made unimportable."""
    env = dict(os.environ)
    if without:
        for peer in without:  # a package whose import fails, ahead of the real one
            pkg = blockers / peer
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / "__init__.py").write_text(
                f"raise ImportError('{peer} hidden by bench/run.py --without')\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blockers),
                                                          env.get("PYTHONPATH")]))
    return env


def importable(peer: str, env: dict[str, str], cache: dict[str, bool]) -> bool:
    """Whether ``peer`` imports in a child's interpreter and environment."""
    if peer not in cache:
        proc = subprocess.run([sys.executable, "-c", f"import {peer}"], env=env,
                              capture_output=True)
        cache[peer] = proc.returncode == 0
    return cache[peer]


def pin_prefix(threads: int) -> list[str]:
    """``taskset -c CPU`` for 1-thread runs where taskset exists and we have >1 CPU."""
    cpus = sorted(allowed_cpus())
    if threads == 1 and len(cpus) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpus[0])]
    return []


def command(script: Script, threads: int, mode_args: Sequence[str],
            args: argparse.Namespace) -> list[str]:
    """The child's command line."""
    cmd = [*pin_prefix(threads), sys.executable, str(BENCH / script.file), "--markdown"]
    if args.quick or args.smoke:
        cmd.append("--quick")
    if script.threads:
        cmd += ["--threads", str(threads)]
    cmd += list(mode_args)
    if args.smoke:
        cmd += list(script.smoke or ())
    return cmd


def shown(cmd: Sequence[str]) -> str:
    """The command as a reader would type it: ``python bench/x.py ...``."""
    return shlex.join("python" if c == sys.executable else
                      f"bench/{Path(c).name}" if c.startswith(str(BENCH)) else c for c in cmd)


def run_script(label: str, cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one child; its tables, notes, wall time and status."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    record: dict[str, Any] = {"label": label, "command": shown(cmd), "seconds": seconds}
    if proc.returncode != 0:
        record["status"] = f"failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        return record
    tables, notes = parse_markdown_output(proc.stdout)
    record.update(status="ok", tables=[asdict(t) for t in tables], notes=notes)
    return record


def plan(args: argparse.Namespace) -> list[tuple[str, Script, int, str, tuple[str, ...]]]:
    """(suite, script, threads, allocator mode, mode arguments) of every child to run."""
    runs = []
    for suite, script in scripts_of(args.suite):
        if args.smoke and script.smoke is None:
            continue
        for threads in args.threads:
            if threads != 1 and not script.threads:
                continue  # a 1-thread-only script: run once, at 1 thread
            for mode, mode_args in script.modes:
                runs.append((suite, script, threads, mode, mode_args))
    return runs


# ****** report ******


def render(record: dict[str, Any], markdown: bool) -> str:
    """One child's section: a heading, then each table under its title and machine line."""
    head = f"{'### ' if markdown else '== '}{record['label']}"
    if record["status"] != "ok":
        return f"{head}\n\n{record['status']}"
    parts = [head, f"`{record['command']}` ({record['seconds']:.0f} s)"]
    parts += [Table(**t).render(markdown) for t in record["tables"]]
    parts += record["notes"]
    return "\n\n".join(parts)


def header(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The command, the date and what kind of run this is."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind = ("SMOKE run (tiny sizes, a test of the harness: not for quoting)" if args.smoke
            else "QUICK run (few rounds: not for quoting)" if args.quick else "full run")
    cmd = shlex.join(["python", "bench/run.py", *argv])
    threads = ",".join(map(str, args.threads))
    return (f"Command: `{cmd}`\n\nDate: {now}; {kind}; threads {threads}; allocator "
            f"modes {', '.join(ALLOCATOR_MODES)} where a script measures memory.")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    ap.add_argument("--threads", default="1", help="thread counts, comma-separated (1,2)")
    ap.add_argument("--repeat", type=int, default=1, help="run every script N times")
    ap.add_argument("--json", type=Path, help="write every table and timing as JSON here")
    speed = ap.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="each script's --quick")
    speed.add_argument("--smoke", action="store_true",
                       help="smaller still: --quick, the smallest configurations, the "
                            "longest scripts left out (the harness's own test)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--update-results", nargs="?", type=Path, const=RESULTS, metavar="PATH",
                    help=f"rewrite the current-results section of PATH (default {RESULTS})")
    ap.add_argument("--chart", type=Path, help=f"PNG of the headline ratios (default with "
                                               f"--update-results: {CHART.name} next to it)")
    ap.add_argument("--without", action="append", default=[], metavar="PEER",
                    help="hide an installed peer (torch, onnxruntime) from the children")
    args = ap.parse_args(argv)
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        ap.error(f"--threads: comma-separated integers expected, got {args.threads!r}")
    if any(t < 1 for t in args.threads) or args.repeat < 1:
        ap.error("--threads and --repeat must be >= 1")
    if args.update_results and not args.markdown:
        ap.error("--update-results writes markdown: add --markdown")
    if args.chart is None and args.update_results:
        args.chart = args.update_results.parent / CHART.name
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    sections = [header(args, argv)]
    print(sections[0], flush=True)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-without-") as blockers:
        env = child_env(args.without, Path(blockers))
        cache: dict[str, bool] = {}
        for suite, script, threads, mode, mode_args in plan(args):
            for rep in range(args.repeat):
                label = (f"{suite}: {script.file}, {threads} thread(s), allocator {mode}"
                         + (f", run {rep + 1}/{args.repeat}" if args.repeat > 1 else ""))
                missing = [p for p in script.needs if not importable(p, env, cache)]
                if missing:
                    record = {"label": label, "status": f"skipped: {', '.join(missing)} not "
                              f"importable (pip install {' '.join(missing)})"}
                else:
                    record = run_script(label, command(script, threads, mode_args, args), env)
                record["short"] = f"{Path(script.file).stem[6:]} {threads}t {mode}"
                records.append(record)
                sections.append(render(record, args.markdown))
                print(f"\n{sections[-1]}", flush=True)
    if args.repeat > 1:
        for summary in repeat_summary(records):
            sections.append(Table(**summary).render(args.markdown))
            print(f"\n{sections[-1]}")
    if args.chart:
        sections.append(write_chart(records, args.chart))
        print(f"\n{sections[-1]}")
    if args.json:
        args.json.write_text(json.dumps({"header": sections[0], "runs": records}, indent=1))
    if args.update_results:
        title = "## Current results (bench/run.py)"
        chart = f"![headline ratios]({args.chart.name})" if args.chart.exists() else ""
        update_results(args.update_results, "\n\n".join([title, *sections, chart]))
        print(f"\n{args.update_results}: current-results section rewritten")
    return 1 if any(r["status"].startswith("failed") for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
