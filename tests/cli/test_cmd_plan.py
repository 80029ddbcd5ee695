"""`gpuplan plan`: the JSON contract, the text (golden), -o DIR, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gpuplan.cli.main import main

TINY = str(Path(__file__).resolve().parents[1] / "plan" / "data" / "tiny-llama.json")
BASE = ["plan", "tiny-llama", "--hf-config", TINY, "--seq-len", "64", "--precision", "amp-bf16"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *BASE, "--gpus", "4xA100-80G", "--target-batch", "64", "--strategy", "ddp,zero3,fsdp2",
                       "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["world_size"] == 4 and obj["recommended"] in ("ddp", "zero3", "fsdp2")
    assert [s["strategy"] for s in obj["strategies"]] == ["ddp", "zero3", "fsdp2"]
    for s in obj["strategies"]:
        assert isinstance(s["per_gpu_memory_bytes"], int) and s["per_gpu_memory_bytes"] > 0
        assert isinstance(s["step_seconds"], float) and s["step_seconds"] > 0
        assert s["micro_batch"] * s["grad_accum"] * s["dp_size"] == s["global_batch"] == 64
        assert isinstance(s["files"], dict) and "launch_torchrun.sh" in s["files"]
    by = {s["strategy"]: s for s in obj["strategies"]}
    assert "ds_config.json" in by["zero3"]["files"] and "fsdp2_snippet.py" in by["fsdp2"]["files"]
    assert json.loads(by["zero3"]["files"]["ds_config.json"])["train_batch_size"] == 64


def test_text_golden(capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUPLAN_LANG", raising=False)
    code, out, _ = run(capsys, *BASE, "--gpus", "4xRTX 3090", "--batch", "8", "--no-color")
    assert code == 0
    assert "recommended:" in out and "NVLink joins at most 2" in out
    golden("plan/tiny_llama_4x3090", out)


def test_output_dir_writes_every_strategy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, *BASE, "--gpus", "2xA100-80G", "--nodes", "2", "--strategy", "zero2,fsdp2",
                       "-o", str(tmp_path), "--no-color")
    assert code == 0 and "wrote 6 files" in out
    launcher = tmp_path / "zero2" / "launch_torchrun.sh"
    assert os.access(launcher, os.X_OK) and "--nnodes=2" in launcher.read_text()
    assert json.loads((tmp_path / "zero2" / "ds_config.json").read_text())["zero_optimization"]["stage"] == 2
    assert (tmp_path / "fsdp2" / "fsdp2_snippet.py").is_file()


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--gpus", "0xA100-80G"], ["1 to 16"]),
        (["--gpus", "8xFOO"], ["Unknown GPU 'FOO'"]),
        (["--gpus", "8xA100-90GB"], ["Closest names", "A100 80GB"]),
        (["--gpus", "8xA100-80G", "--interconnect", "carrier-pigeon"], ["carrier-pigeon", "allowed: nvlink, pcie"]),
        (["--gpus", "8xA100-80G", "--nodes", "0"], ["--nodes 0"]),
        (["--gpus", "8xA100-80G", "--nodes", "-1"], ["--nodes -1"]),
        (["--gpus", "2xRTX 4090", "--interconnect", "nvlink"], ["no NVLink"]),
        (["--gpus", "8xA100-80G", "--strategy", "zero4"], ["zero4", "allowed: all, ddp"]),
        (["--gpus", "8xA100-80G", "--target-batch", "100"], ["multiple of the data-parallel size 8"]),
        (["--gpus", "8xA100-80G", "--target-batch", "64", "--batch", "4"], ["--target-batch chooses"]),
        (["--gpus", "8xA100-80G", "--mode", "infer"], ["covers training"]),
    ],
)
def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]) -> None:
    code, out, err = run(capsys, *BASE, *argv)
    assert code == 2, err
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err and out == ""
