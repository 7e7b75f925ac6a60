"""bench/run.py, the benchmark harness: every suite runs (smoke sizes) and reports its
tables, each under the machine line; peers missing are skipped with a line; RESULTS.md's
current-results section is rewritten while the history below it is kept.

Speed is never asserted here (figures come from bench/, on a quiet machine): only that
the harness produces the tables it promises.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import threadpoolctl  # noqa: F401  (the test extra has it: bench/ sets threads with it)

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from report import Table, parse_markdown_output  # noqa: E402
from results import BEGIN, END, HEADLINES, headline_ratios, repeat_summary, update_results  # noqa: E402

import pyfrozen  # noqa: E402


def run_harness(tmp_path: Path, *args: str) -> tuple[str, dict]:
    """``python bench/run.py ARGS --json``; its stdout and JSON (exit status checked)."""
    out = tmp_path / "run.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), *args, "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def tables_of(data: dict) -> list[dict]:
    return [t for run in data["runs"] for t in run.get("tables", [])]


_RUNS: dict[str, tuple[str, dict, Path]] = {}


def smoke_run(suite: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    """``run.py --suite SUITE --smoke --chart``, once per suite for the whole module."""
    if suite not in _RUNS:
        tmp = tmp_path_factory.mktemp(f"bench-{suite}")
        stdout, data = run_harness(tmp, "--suite", suite, "--smoke", "--chart",
                                   str(tmp / "chart.png"))
        _RUNS[suite] = (stdout, data, tmp)
    return _RUNS[suite]


@pytest.mark.parametrize("suite", ["kernels", "autograd", "train"])
def test_each_suite_reports_tables_under_the_machine_line(suite, torch, tmp_path_factory):
    stdout, data, tmp_path = smoke_run(suite, tmp_path_factory)
    assert data["runs"], "no script ran"
    for run in data["runs"]:
        assert run["status"] == "ok", run
        assert run["tables"], f"{run['label']}: no table read back"
    tables = tables_of(data)
    for t in tables:
        assert t["machine"].startswith("CPU "), t
        assert t["rows"] and all(len(r) == len(t["headers"]) for r in t["rows"]), t
    # The machine line is printed again above every table, not once per script.
    assert stdout.count("\nMachine: CPU ") >= len(tables)
    assert stdout.startswith("Command: `python bench/run.py --suite")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "chart: matplotlib not importable" in stdout
    else:
        assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_suite_covers_both_allocators_memory_and_breakdown(torch, tmp_path_factory):
    _, data, _ = smoke_run("train", tmp_path_factory)
    titles = [t["title"] for t in tables_of(data)]
    for mode in ("default", "keep-heap"):
        step = [t for t in tables_of(data)
                if t["title"].startswith("Train step") and f"allocator {mode}" in t["title"]]
        assert step, (mode, titles)
        headers = step[0]["headers"]
        assert "torch/pyfrozen" in headers and "pyfrozen RSS rise MB" in headers
        assert [r[0] for r in step[0]["rows"]] == ["inference (predict_on_batch)", "full step"]
        assert any(t.startswith("Freezing speed-up") and mode in t for t in titles)
    breakdown = [t for t in tables_of(data) if t["title"].startswith("pyfrozen per block")]
    assert breakdown and "block 13" in [r[0].replace("  ", " ") for r in breakdown[0]["rows"]]


def test_train_suite_measures_each_kernels_time(torch, tmp_path_factory):
    _, data, _ = smoke_run("train", tmp_path_factory)
    timed = {t["title"].split(",")[1].split(":")[0].strip(): t for t in tables_of(data)
             if t["title"].startswith("pyfrozen kernel time")}
    assert set(timed) == {"full step", "top2 step", "frozen step"}
    full = {r[0]: r for r in timed["full step"]["rows"]}
    # The full step runs every pass of the pointwise convolutions and BatchNormalization.
    for key in ("conv2d_forward[pw s1]", "conv2d_backward_input[pw s1]",
                "conv2d_backward_weight[pw s1]", "batchnorm_forward_training",
                "batchnorm_backward_training", "sgd_update"):
        assert key in full and float(full[key][2]) > 0, (key, sorted(full))
    frozen = {r[0] for r in timed["frozen step"]["rows"]}
    assert "conv2d_backward_weight[pw s1]" not in frozen  # a frozen base runs no such kernel
    shares = [float(r[3]) for r in timed["full step"]["rows"]]
    assert abs(sum(shares) - 100) < 1.5  # kernels + rest make up the step (rounded to 0.1)


def test_train_suite_runs_the_lora_bench_on_both_workloads(torch, tmp_path_factory):
    _, data, _ = smoke_run("train", tmp_path_factory)
    lora = [t for t in tables_of(data) if t["title"].startswith("LoRA fine-tuning")]
    assert [t["title"].split(":")[1].split(",")[0].strip() for t in lora] == [
        "3 x Dense 64->64", "MobileNet V1 alpha 0.25 pointwise convs"]
    for t in lora:
        assert [r[0] for r in t["rows"]] == ["full fine-tuning", "LoRA rank 4"]
        assert "torch factored / pyfrozen" in t["headers"] and "pyfrozen peak MB" in t["headers"]
        state = t["headers"].index("pyfrozen Adam state MB")
        # Adam keeps two slots per trainable weight: LoRA's are the adapters' only.
        assert float(t["rows"][1][state]) < float(t["rows"][0][state])


def test_train_suite_reports_the_depthwise_recompute(torch, tmp_path_factory):
    _, data, _ = smoke_run("train", tmp_path_factory)
    [table] = [t for t in tables_of(data) if t["title"].startswith("Depthwise recompute")]
    row = table["rows"][0]
    kept_on, kept_off = (float(row[table["headers"].index(f"kept MB {s}")]) for s in ("on", "off"))
    assert kept_on < kept_off  # the stride-1 depthwise outputs are not kept


def test_train_suite_reports_the_batchnorm_mask_source(torch, tmp_path_factory):
    _, data, _ = smoke_run("train", tmp_path_factory)
    [table] = [t for t in tables_of(data)
               if t["title"].startswith("BatchNormalization mask in backward")]
    assert table["headers"][:4] == ["network", "from x ms", "from y ms", "y / x"]
    assert len(table["rows"]) == 1 and float(table["rows"][0][1]) > 0


def test_kernels_suite_compares_every_vector_path(torch, tmp_path_factory):
    _, data, _ = smoke_run("kernels", tmp_path_factory)
    [gemm] = [t for t in tables_of(data) if t["title"].startswith("GEMM per ISA path")]
    vector = [p for p in pyfrozen.supported_isas() if p != "generic"]
    paths = vector if len(vector) >= 2 else pyfrozen.supported_isas()
    assert gemm["headers"][2:2 + len(paths)] == [f"{p} GFLOP/s" for p in paths]


def test_isa_paths_bench_falls_back_to_the_portable_path(monkeypatch, capsys):
    # A CPU with one vector path (AVX2 only) compares the portable path with it.
    import bench_isa_paths

    one = [p for p in pyfrozen.supported_isas() if p in ("generic", "avx2")]
    monkeypatch.setattr(pyfrozen, "supported_isas", lambda: one)
    bench_isa_paths.main(["--quick", "--markdown"])
    tables, _ = parse_markdown_output(capsys.readouterr().out)
    assert [t.headers[2:2 + len(one)] for t in tables] == [
        [f"{p} GFLOP/s" for p in one], [f"{p} ms" for p in one]]
    assert all(t.rows and all(len(r) == len(t.headers) for r in t.rows) for t in tables)


def test_missing_peer_is_skipped_with_a_line(tmp_path):
    stdout, data = run_harness(tmp_path, "--suite", "autograd", "--smoke", "--without", "torch")
    status = {run["label"].split(",")[0]: run["status"] for run in data["runs"]}
    assert status["autograd: bench_autograd.py"] == (
        "skipped: torch not importable (pip install torch)")
    assert status["autograd: bench_input_copy.py"] == "ok"  # torch is optional there
    assert "skipped: torch not importable" in stdout
    assert "torch absent" in tables_of(data)[0]["machine"]


OUTPUT = """Machine: CPU one

### First

| a | b |
| :--- | ---: |
| x | 1.50x (1.2-1.9) |

Allocator: keep

Second table's title
on two lines

| a | torch/pyfrozen |
| :--- | ---: |
| y | 0.75x (0.7-0.8) |

a closing note
"""


def test_parse_markdown_output_reads_titles_machine_and_rows():
    tables, notes = parse_markdown_output(OUTPUT)
    assert [t.title for t in tables] == ["First", "Second table's title on two lines"]
    assert [t.machine for t in tables] == ["CPU one", "CPU one"]
    assert tables[1].before == ["Allocator: keep"]
    assert tables[0].rows == [["x", "1.50x (1.2-1.9)"]]
    assert notes == ["a closing note"]
    text = tables[1].render(markdown=False)
    assert "Machine: CPU one" in text and "0.75x" in text
    runs = [{"label": "s", "tables": [vars(t) for t in tables]}]
    assert headline_ratios(runs) == [
        ("s | Second table's title on two lines | y [torch/pyfrozen]", 0.75)]
    # A second cell that is not a number names the row with the first: "square 1024^3".
    square = {"title": "Square GEMMs", "headers": ["case", "op", "pyfrozen/numpy"],
              "rows": [["square", "1024^3", "1.05x (1.0-1.1)"], ["square", "64^3", "0.8x"]]}
    found = headline_ratios([{"label": "gemm", "tables": [square]}])
    assert found == [("gemm | Square GEMMs | square 1024^3 [pyfrozen/numpy]", 1.05),
                     ("gemm | Square GEMMs | square 64^3 [pyfrozen/numpy]", 0.8)]
    assert any(re.search(h, found[0][0]) for h in HEADLINES)
    assert not any(re.search(h, found[1][0]) for h in HEADLINES)


def test_update_results_replaces_only_the_current_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    history = "## History\n\nhand-written | kept\n"
    path.write_text(f"# Benchmark results\n\nIntro.\n\n{history}")
    update_results(path, "## Current results\n\nfirst run")
    update_results(path, "## Current results\n\nsecond run")
    text = path.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "second run" in text and "first run" not in text
    assert text.startswith("# Benchmark results\n\nIntro.\n\n" + BEGIN)
    assert text.endswith(history)
    assert isinstance(Table("t", "m", ["h"], [["r"]]).render(True), str)


def test_repeat_summary_takes_the_median_of_each_row_over_runs():
    def run(k: int, ratio: str) -> dict:
        table = {"title": "t", "machine": "CPU one", "headers": ["case", "torch/pyfrozen"],
                 "rows": [["mlp", ratio]], "before": []}
        return {"label": f"autograd: s.py, 1 thread(s), run {k}/3", "tables": [table]}

    (summary,) = repeat_summary([run(1, "1.10x (1.0-1.2)"), run(2, "0.90x"), run(3, "1.30x")])
    assert summary["title"] == "autograd: s.py, 1 thread(s): speed ratios over 3 runs"
    assert summary["rows"] == [["mlp [torch/pyfrozen]", "1.10x", "0.90-1.30", "3"]]
    assert summary["machine"] == "CPU one"
