"""`gpuplan models`: what the zoo builds by name (the unknown-model hint points here)."""

from __future__ import annotations

import json

import pytest

from gpuplan.cli.main import main
from gpuplan.workload.zoo import known_model_names


def test_json_lists_seeds_configs_and_torchvision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["lenet5"] == {"name": "lenet5", "source": "seed", "family": "cnn", "detail": "1x28x28"}
    assert by_name["lstm"]["detail"] == "256:int64"
    assert by_name["meta-llama/Llama-2-7b-hf"]["family"] == "llm"
    assert by_name["bert-base-uncased"]["family"] == "transformer"
    assert by_name["resnet50"]["source"] == "torchvision"
    assert sum(r["source"] == "hf-config" for r in rows) == 37
    assert sorted(by_name) == sorted(known_model_names())  # every name the zoo resolves, no more


def test_source_filter_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--source", "seed"]) == 0
    out = capsys.readouterr().out
    assert "cifar_cnn" in out and "resnet50" not in out and "timm:NAME" in out


def test_unknown_model_hint_names_an_existing_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "no_such_model", "--gpu", "GTX 760"]) == 2
    err = capsys.readouterr().err
    assert "gpuplan models" in err
    with pytest.raises(SystemExit) as exit_info:  # the command it names exists
        main(["models", "--help"])
    assert exit_info.value.code == 0
