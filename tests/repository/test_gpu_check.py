"""benchmarks/gpu_check.py: the smoke run on the CPU gives every stage's
figures, consistent with each other; without a GPU the CUDA parts skip
cleanly; a failing stage is reported and the others still run."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One CPU smoke run: its exit status, printed report and JSON."""
    path = tmp_path_factory.mktemp("gpu_check") / "results.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = _script().main(["--device", "cpu", "--smoke", "--json", str(path)])
    return status, out.getvalue(), json.loads(path.read_text())


def test_smoke_run_reports_every_stage(smoke):
    status, printed, results = smoke
    assert status == 0
    assert list(results) == [
        "environment",
        "cuda_tests",
        "cost",
        "time_epoch",
        "placement",
        "precision",
        "hand_loop",
        "data_parallel",
    ]
    assert results["environment"]["detail"]["cuda_available"] == (
        torch.cuda.is_available()
    )
    assert results["cuda_tests"]["status"] == "skipped"
    assert "--device cuda" in results["cuda_tests"]["detail"]["skipped"]
    for name in ("cost", "time_epoch", "placement", "precision", "hand_loop"):
        assert results[name]["status"] == "ok", results[name]
        assert f"\n{name:<12} ok" in printed
    assert "=== summary ===" in printed


def test_smoke_figures_are_consistent(smoke):
    _, _, results = smoke
    rows = {r["method"]: r for r in results["cost"]["detail"]["rows"]}
    assert set(rows) == {"hand loop", "skorch ERM", "skremix ERM"}
    skorch = rows["skorch ERM"]["fit_s"]
    for row in rows.values():
        assert row["fit_s"] > 0
        assert row["vs_skorch"] == pytest.approx(row["fit_s"] / skorch)
    epochs = results["time_epoch"]["detail"]
    assert [r["row"] for r in epochs["rows"]] == ["ERM", "Remix-DRW"]
    assert all(r["images_per_s"] > 0 for r in epochs["rows"])
    placement = results["placement"]["detail"]
    assert placement["device"]["used"] == "device"
    assert placement["host"]["used"] == "host"
    assert placement["host_over_device"] == pytest.approx(
        placement["host"]["fit_s"] / placement["device"]["fit_s"]
    )
    precision = results["precision"]["detail"]["rows"]
    assert [r["variant"] for r in precision] == [
        "fp32",
        "bf16",
        "channels_last",
        "bf16 + channels_last",
    ]
    assert precision[0]["agreement_with_fp32"] == 1.0
    assert all(r["finite"] and 0 <= r["agreement_with_fp32"] <= 1 for r in precision)
    hand = {r["row"]: r for r in results["hand_loop"]["detail"]["rows"]}
    assert set(hand) == {"hand loop", "ERM"}
    assert {r["workload"] for r in hand.values()} == {"rows"}
    assert hand["hand loop"]["vs_hand"] == 1.0
    assert hand["ERM"]["vs_hand"] == pytest.approx(
        hand["ERM"]["fit_s"] / hand["hand loop"]["fit_s"]
    )
    dp = results["data_parallel"]["detail"]
    assert dp["processes"] == 2  # gloo on the CPU smoke run
    assert [(r["method"], r["processes"], r["world_size_"]) for r in dp["rows"]] == [
        ("ERMClassifier", 1, 1),
        ("RemixClassifier", 1, 1),
        ("ERMClassifier", 2, 2),
        ("RemixClassifier", 2, 2),
    ]
    assert all(r["ranks_agree"] and r["finite"] for r in dp["rows"])
    for method, ratio in dp["speedup"].items():
        a, b = (r["images_per_s"] for r in dp["rows"] if r["method"] == method)
        assert ratio == pytest.approx(b / a)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without GPU")
def test_cuda_without_a_gpu_skips_every_stage(capsys):
    assert _script().main(["--device", "cuda", "--smoke"]) == 0
    printed = capsys.readouterr().out
    stages = ("cuda_tests", "cost", "time_epoch", "placement", "precision", "hand_loop")
    for name in (*stages, "data_parallel"):
        assert f"\n{name:<12} skipped" in printed
    assert printed.count("CUDA is not available") == 7


def test_a_failing_stage_is_reported_and_the_budget_stops_stages(capsys, monkeypatch):
    script = _script()

    def broken(args, sizes):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(script, "stage_precision", broken)
    argv = ["--device", "cpu", "--smoke", "--stages", "environment,precision"]
    assert script.main(argv) == 1
    assert "precision    failed" in capsys.readouterr().out
    argv = ["--device", "cpu", "--smoke", "--stages", "environment,placement"]
    assert script.main([*argv, "--budget", "-1"]) == 0
    printed = capsys.readouterr().out
    assert "environment  skipped" in printed and "budget of -1 s" in printed
    with pytest.raises(SystemExit):
        script.main(["--stages", "cost,warp"])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_smoke_run(capsys):
    # Not the cuda_tests stage: it runs this test's marker, so itself.
    stages = "environment,cost,time_epoch,placement,precision,data_parallel"
    assert _script().main(["--device", "cuda", "--smoke", "--stages", stages]) == 0
    assert "failed" not in capsys.readouterr().out
