"""`gpuplan gpus`: filters, sorting, JSON, errors, golden plain-text list."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gpuplan.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_whole_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpus", "--json")
    data = json.loads(out)
    assert code == 0 and len(data) >= 168
    assert {"name", "vendor", "memory_bytes", "sources"} <= set(data[0])


def test_filters_combine(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "gpus", "--vendor", "nvidia", "--min-memory", "80", "--feature", "fp8", "--json")
    names = {g["name"] for g in json.loads(out)}
    assert "H100 SXM5 80GB" in names and "B200" in names
    assert "A100 80GB SXM4" not in names  # no FP8 on CC 8.0
    assert all(g["memory_bytes"] >= 80 * 2**30 for g in json.loads(out))


def test_sort_desc_with_unknown_last(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "gpus", "--vendor", "apple", "--sort", "bandwidth_gbs", "--desc", "--json")
    bws = [g["bandwidth_gbs"] for g in json.loads(out)]
    known = [b for b in bws if b is not None]
    assert known == sorted(known, reverse=True)
    assert bws[len(known):] == [None] * (len(bws) - len(known))


def test_arch_and_segment(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "gpus", "--arch", "kepler", "--segment", "datacenter", "--json")
    assert {g["name"] for g in json.loads(out)} == {"Tesla K20 (K20m)", "Tesla K40 (K40m)", "Tesla K80 (per GPU)"}


@pytest.mark.parametrize("argv", [["--sort", "colour"], ["--feature", "warp-drive"]])
def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, "gpus", *argv)
    assert code == 2 and out == "" and "Traceback" not in err


def test_plain_list_golden(capsys: pytest.CaptureFixture[str], golden: Callable[[str, str], None]) -> None:
    code, out, _ = run(capsys, "gpus", "--arch", "kepler", "--sort", "fp32_tflops", "--desc")
    assert code == 0
    golden("gpus/kepler_by_fp32", out)
