"""The Python API returns the same records as the CLI's --json (by model name, small models)."""

from __future__ import annotations

import json

import pytest

import gpuplan.api as gp
from gpuplan.cli.main import main
from gpuplan.render.jsonout import to_jsonable


def test_compare_matches_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    res = gp.compare("lenet5", "GTX 760,RTX 3060 12GB", batch=32)
    assert main(["compare", "lenet5", "--gpus", "GTX 760,RTX 3060 12GB", "--batch", "32", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    api = to_jsonable(res)
    rows = api["rows"] if isinstance(api, dict) and "rows" in api else api
    assert [r["gpu"]["name"] for r in rows] == [r["gpu"]["name"] for r in cli]
    for a, c in zip(rows, cli, strict=True):
        assert a["memory"]["device_total_bytes"] == c["memory"]["device_total_bytes"]
        assert a["fits"] == c["fits"]


def test_plan_by_model_name_has_the_contract_fields() -> None:
    p = gp.plan("gpt2", "2xRTX 3090", strategies="ddp,zero2", seq_len=128)
    d = to_jsonable(p)
    strategies = {s["strategy"]: s for s in d["strategies"]}
    assert set(strategies) == {"ddp", "zero2"}
    # 124 M parameters: sharding AdamW state and gradients over 2 GPUs saves ~0.7 GiB per GPU
    assert strategies["zero2"]["per_gpu_memory_bytes"] < strategies["ddp"]["per_gpu_memory_bytes"] - 2**29
    assert all("files" in s for s in d["strategies"])


def test_wrappers_reject_bad_options_clearly() -> None:
    from gpuplan.errors import GpuplanError

    with pytest.raises(GpuplanError):
        gp.recommend("lenet5", budget="300 bananas")
    with pytest.raises(ValueError):
        gp.compare("lenet5", "GTX 760", precision="fp8-magic")
