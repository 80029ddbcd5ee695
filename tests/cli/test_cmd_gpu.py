"""`gpuplan gpu NAME`: JSON contract, errors, golden plain-text output."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gpuplan.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpu", "gtx760", "--json", "--no-local-torch")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "GeForce GTX 760"
    assert data["vendor"] == "NVIDIA" and data["architecture"] == "Kepler"
    assert data["compute_capability"] == "3.0"
    assert data["memory_bytes"] == 2 * 2**30 and isinstance(data["memory_bytes"], int)
    assert data["bandwidth_gbs"] == 192.3 and data["fp32_tflops"] == 2.38
    assert data["tensor_cores"] is False
    assert isinstance(data["sources"], list) and data["sources"]
    assert data["compat"]["cuda_toolkit"]["max"] == "10.2"
    assert data["compat"]["pytorch_official"]["last"] == "0.3.0"
    assert data["features"]["flash_attention"] is False
    assert data["verdict"]


def test_json_current_gpu_nulls(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "gpu", "rtx 3060 12gb", "--json")
    data = json.loads(out)
    assert data["compat"]["cuda_toolkit"]["max"] is None
    assert data["compat"]["pytorch_official"]["last"] is None
    assert data["compat"]["local_torch"]["available"] is True


def test_json_amd_has_null_cc(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "gpu", "mi250x", "--json", "--no-local-torch")
    data = json.loads(out)
    assert data["compute_capability"] is None and data["gfx_target"] == "gfx90a"
    assert data["memory_bytes"] == 64 * 2**30


def test_unknown_gpu_exit_2_closest_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "gpu", "gtx 7600")
    assert code == 2 and out == ""
    assert "Unknown GPU" in err and "GeForce GTX 760" in err
    assert "Traceback" not in err


def test_ambiguous_gpu_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "gpu", "h100")
    assert code == 2
    assert "ambiguous" in err and "H100 SXM5 80GB" in err and "H100 PCIe 80GB" in err


def test_no_name_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "gpu")
    assert code == 2 and "GPU name" in err


def test_gpu_spec_inline_and_bad(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpu", "--gpu-spec", "name=Lab card,memory_gib=24,compute_capability=8.6,"
                       "fp32_tflops=30", "--json", "--no-local-torch")
    assert code == 0 and json.loads(out)["compat"]["cuda_toolkit"]["min"] == "11.1"
    code, _, err = run(capsys, "gpu", "--gpu-spec", "name=X,memory_gib=lots")
    assert code == 2 and "memory_gib" in err and "Traceback" not in err


@pytest.mark.parametrize(("query", "golden_name"), [("gtx 760", "gtx760"), ("rtx 3060 12gb", "rtx3060_12gb"),
                                                    ("h100 sxm", "h100_sxm"), ("mi250x", "mi250x")])
def test_plain_text_golden(capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None], query: str,
                           golden_name: str) -> None:
    code, out, _ = run(capsys, "gpu", query, "--no-local-torch")
    assert code == 0
    golden(f"gpu/{golden_name}", out)
