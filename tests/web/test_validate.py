"""Request validation of `gpuplan serve`: only zoo names and transformers configs, bounded sizes, every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuplan.errors import UsageError
from gpuplan.web.validate import (
    MAX_CONFIG_BYTES,
    allowed_models,
    check_config,
    check_model_name,
    estimate_params,
    parse_fit_request,
)
from gpuplan.workload.spec import Mode, Precision
from gpuplan.workload.zoo import shipped_hf_configs

TINY_LLAMA = (Path(__file__).resolve().parents[1] / "fixtures" / "tiny_llama_gqa.json").read_text()
OK = {"model": "lenet5", "gpu": "GTX 760", "batch": 64}


def test_a_valid_request() -> None:
    req = parse_fit_request({**OK, "mode": "infer", "precision": "amp-fp16", "seq_len": 128, "lang": "zh-CN"})
    assert (req.model, req.gpu, req.batch, req.auto_batch) == ("lenet5", "GeForce GTX 760", 64, False)
    assert req.mode is Mode.INFER and req.precision is Precision.AMP_FP16 and req.lang == "zh"
    w = req.workload(None)
    assert w.model == "lenet5" and w.batch == 64 and w.seq_len == 128
    auto = parse_fit_request({**OK, "batch": "auto"})
    assert auto.auto_batch and auto.batch == 1


@pytest.mark.parametrize("name", ["os.path:join", "evil.py:build", "../x.py:f", "/tmp/m.py:f", "torch.nn:Linear",
                                  "timm:resnet50", "C:\\m.py:f", "a.b.c:d"])
def test_code_like_model_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="never imported"):
        check_model_name(name)


def test_zoo_names_are_accepted_case_insensitively() -> None:
    assert check_model_name("ResNet50") == "resnet50"
    assert check_model_name("meta-llama/llama-2-7b-hf") == "meta-llama/Llama-2-7b-hf"
    with pytest.raises(UsageError, match="not in the zoo"):
        check_model_name("resnet5000")
    groups = allowed_models()
    assert {"seed", "huggingface", "torchvision"} == set(groups)
    assert "lstm" in groups["seed"] and "bert-base-uncased" in groups["huggingface"]
    assert "vit_b_16" in groups["torchvision"] and "fasterrcnn_resnet50_fpn" not in groups["torchvision"]


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"precision": "fp8"}, "precision"),
        ({"mode": "generate"}, "mode"),
        ({"batch": 0}, "batch"),
        ({"batch": "lots"}, "batch"),
        ({"batch": True}, "batch"),
        ({"batch": 10**9}, "batch"),
        ({"batch": 3.5}, "batch"),
        ({"seq_len": 10**6}, "seq_len"),
        ({"seq_len": -1}, "seq_len"),
        ({"checkpointing": "yes"}, "checkpointing"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"gpu": "name=x,memory_gib=1000"}, "no spec files"),
        ({"gpu": "/etc/gpu.json"}, "no spec files"),
        ({"gpu": "gtx 7600000"}, "Unknown GPU"),
        ({"gpu": None}, "gpu"),
        ({"gpu": "x" * 500}, "gpu"),
        ({"extra": 1}, "Unknown field"),
        ({"config": TINY_LLAMA}, "exactly one"),
        ({"model": None}, "exactly one"),
        ({"lang": "klingon"}, "lang"),
        ({"precision": "int4"}, "LoRA"),
    ],
)
def test_bad_fields_are_named(patch: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        parse_fit_request({**OK, **patch})


def test_body_must_be_an_object() -> None:
    for body in ([], "lenet5", None, 3):
        with pytest.raises(UsageError, match="JSON object"):
            parse_fit_request(body)


def test_a_tiny_uploaded_config_is_accepted() -> None:
    text, label = check_config(TINY_LLAMA)
    assert label == "config.json (llama)" and json.loads(text)["hidden_size"] == 64
    req = parse_fit_request({"config": TINY_LLAMA, "gpu": "rtx 3060 12gb", "batch": 2, "seq_len": 32})
    assert req.model is None and req.workload("/tmp/c.json").hf_config == "/tmp/c.json"


def test_auto_map_is_dropped_never_followed() -> None:
    text, _ = check_config(_cfg(auto_map={"AutoModelForCausalLM": "evil.EvilModel"}))
    assert "auto_map" not in json.loads(text) and "evil" not in text


def test_every_shipped_config_passes_the_upload_checks() -> None:
    for path in shipped_hf_configs().values():
        check_config(path.read_text())


def _cfg(**kw: object) -> str:
    base = json.loads(TINY_LLAMA)
    base.update(kw)
    return json.dumps(base)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"hidden_size": NaN, "model_type": "llama"}', "not valid JSON"),
        (json.dumps({"hidden_size": 64}), "model_type"),
        (_cfg(model_type="not_a_model"), "model_type"),
        (_cfg(architectures=["os.system"]), "not a model class"),
        (_cfg(architectures="LlamaForCausalLM"), "architectures"),
        (_cfg(num_hidden_layers=100000), "num_hidden_layers"),
        (_cfg(hidden_size=-5), "hidden_size"),
        (_cfg(hidden_size=1.5), "hidden_size"),
        (_cfg(rope_theta=1e300), "out of range"),
        (_cfg(hidden_size=32768, num_hidden_layers=200, intermediate_size=131072, vocab_size=1 << 20),
         "parameters"),
        (json.dumps({"model_type": "llama", "a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}), "nested"),
        (_cfg(pad=" " * (MAX_CONFIG_BYTES + 1)), "limit"),
    ],
)
def test_bad_configs_are_refused(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        check_config(text)


def test_parameter_estimate_is_in_the_right_range() -> None:
    llama7b = json.loads(shipped_hf_configs()["meta-llama/Llama-2-7b-hf"].read_text())
    assert 6e9 < estimate_params(llama7b) < 7.5e9
    llama70b = json.loads(shipped_hf_configs()["meta-llama/Llama-2-70b-hf"].read_text())
    assert 5e10 < estimate_params(llama70b) < 8e10
