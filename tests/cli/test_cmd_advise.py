"""`gpuplan advise`: the JSON contract, golden text (plans, nothing fits), and bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from gpuplan.cli.main import main

NANO = "name=Nano,memory_gib=0.25,fp32_tflops=5,bandwidth_gbs=100,compute_capability=6.1"
# a described host, so the output does not depend on the machine running the tests
HOST = ["--remote-host", "--host-cpus", "8", "--host-ram-gib", "32"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _stable(text: str) -> str:
    """The search's wall time varies from run to run."""
    return re.sub(r"traces, \d+\.\d s", "traces, N s", text)


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "advise", "mlp", "--gpu", "rtx 3060 12gb", "--mode", "infer", "--target-batch", "256",
                       "--json")
    assert code == 0
    obj = json.loads(out)
    plans = obj["plans"]
    assert plans and obj["gpu"]["name"] == "GeForce RTX 3060 12GB"
    sps = [p["time"]["samples_per_second"] for p in plans]
    assert sps == sorted(sps, reverse=True)  # best first
    for p in plans:
        assert isinstance(p["changes"], list) and p["fits"] is True
        assert 0 < p["memory"]["device_total_bytes"] <= p["memory"]["capacity_bytes"]
        for c in p["changes"]:
            assert set(c) == {"key", "summary", "effect", "risk"} and isinstance(c["summary"], str)
    assert {c["key"] for p in plans for c in p["changes"]} >= {"fp16", "quant:int8"}
    assert obj["snippet"].startswith("# gpuplan advise: plan 1")
    assert obj["pipeline"] is None  # inference: no input-pipeline check


def test_text_plans_pipeline_and_snippet(capsys: pytest.CaptureFixture[str],
                                         golden: Callable[[str, str], None]) -> None:
    code, out, err = run(capsys, "advise", "lenet5", "--gpu", "GTX 760", "--target-batch", "64", *HOST,
                         "--decode-rate", "2000", "--dataset-size", "60000", "--sample-bytes", "784", "--disk-mbps",
                         "100")
    assert code == 0 and err == ""
    golden("advise/lenet5_gtx760", _stable(out))


def test_text_nothing_fits(capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None]) -> None:
    code, out, _ = run(capsys, "advise", "cifar_cnn", "--gpu-spec", NANO, "--target-batch", "64", *HOST)
    assert code == 0
    assert "Nothing fits" in out and "Cheapest catalog GPUs that fit it" in out
    golden("advise/cifar_cnn_nothing_fits", _stable(out))


def test_batch_flag_becomes_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "advise", "lenet5", "--gpu", "GTX 760", "--batch", "16", "--grad-accum", "2", "--json",
                       "--budget", "1", *HOST)
    assert code == 0
    obj = json.loads(out)
    assert obj["target_batch"] == 32 and obj["plans"][0]["effective_batch"] == 32


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["advise", "lenet5", "--gpu", "gtx 760", "--target-batch", "0"], "--target-batch"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--top", "0"], "--top"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--budget", "-1"], "--budget"),
        (["advise", "lenet5", "--gpu", "gtx 760,rtx 3060 12gb"], "one GPU"),
        (["advise", "lenet5"], "--gpu"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--sample-bytes", "lots"], "--sample-bytes"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--decode-rate", "0"], "--decode-rate"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--currency", "XYZ"], "currency"),
        (["advise", "lenet5", "--gpu", "gtx 760", "--mode", "generate"], "generate"),
        (["advise", "resnet5000", "--gpu", "gtx 760"], "Unknown model"),
    ],
)
def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and out == ""


def test_untraceable_model_is_reported_as_fit_reports_it(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    """A model whose forward reads a tensor's value cannot be traced: advise says so as fit does (which
    module, why, the hint), with fit's exit code, never a traceback."""
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 8)\n"
        "    def forward(self, x):\n        return self.l(x) if x.sum().item() > 0 else x\n\n"
        "def make():\n    return M()\n")
    model = f"{tmp_path / 'm.py'}:make"
    fit_code, _, fit_err = run(capsys, "fit", model, "--input", "8", "--gpu", "gtx 760", "--batch", "8")
    code, out, err = run(capsys, "advise", model, "--input", "8", "--gpu", "gtx 760", "--target-batch", "8")
    assert code == fit_code != 0
    assert err == fit_err and "Tracing the forward pass" in err and "fake tensors" in err
    assert "Traceback" not in err and out == ""
