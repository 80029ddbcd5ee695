"""`gpuplan fit --mode generate`: text (KV cache, tokens/s), the JSON contract extended, --batch auto,
bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpuplan.api as gp
from gpuplan.cli.main import main

TINY_LLAMA = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny_llama_gqa.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_shows_kv_cache_and_tokens_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "gpt2", "--mode", "generate", "--prompt-len", "32", "--new-tokens", "8",
                       "--precision", "fp16", "--gpu", "rtx 3060 12gb", "--no-color")
    assert code == 0
    assert "gpt2 · generate · fp16 · prompt 32 + 8 new tokens" in out and "FITS" in out
    assert "KV cache at full length (39 tokens × batch 1)" in out
    assert "KV cache" in out and "tokens/s" in out and "time to first token" in out


def test_json_contract_extended(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "gpt2", "--mode", "generate", "--prompt-len", "32", "--new-tokens", "8",
                       "--batch", "2", "--gpu", "gtx 1060 6gb", "--json")
    assert code == 0
    o = json.loads(out)
    assert o["mode"] == "generate" and o["optimizer"] is None and o["batch"] == 2
    assert o["prompt_len"] == 32 and o["new_tokens"] == 8
    mem = o["memory"]
    for key in ("peak_allocated_bytes", "peak_reserved_bytes", "device_total_bytes", "capacity_bytes"):
        assert isinstance(mem[key], int) and mem[key] > 0
    assert mem["device_total_bytes"] == mem["peak_reserved_bytes"] + mem["breakdown"]["cuda_context"]
    assert mem["breakdown"]["kv_cache"] > 0
    assert mem["kv_cache_bytes"] == 2 * 12 * 12 * 64 * 39 * 2 * 4  # fp32 (the default precision), batch 2
    assert mem["breakdown"]["parameters"] == 124_439_808 * 4
    t = o["time"]
    for key in ("step_seconds", "samples_per_second", "forward_seconds", "prefill_seconds",
                "decode_seconds_per_token", "tokens_per_second"):
        assert t[key] > 0
    assert t["tokens_per_second"] == pytest.approx(2 / t["decode_seconds_per_token"])


def test_auto_batch_on_a_tiny_gqa_llama(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "tiny-llama", "--hf-config", TINY_LLAMA, "--mode", "generate",
                       "--prompt-len", "128", "--new-tokens", "64", "--gpu", "gtx 760,rtx 3060 12gb",
                       "--batch", "auto", "--json")
    assert code == 0
    small, big = json.loads(out)
    assert 0 < small["max_batch_size"] < big["max_batch_size"]
    for o in (small, big):
        assert o["memory"]["device_total_bytes"] <= o["memory"]["capacity_bytes"]
        assert o["memory"]["kv_cache_bytes"] == 2 * 2 * 1 * 16 * 191 * o["batch"] * 4


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["fit", "gpt2", "--gpu", "gtx 760", "--mode", "infer", "--prompt-len", "8"], "--prompt-len"),
        (["fit", "gpt2", "--gpu", "gtx 760", "--mode", "generate", "--new-tokens", "0"], "--new-tokens"),
        (["fit", "gpt2", "--gpu", "gtx 760", "--mode", "generate", "--prompt-len", "1000", "--new-tokens", "100"],
         "learned position table"),
        (["fit", "bert-base-uncased", "--gpu", "gtx 760", "--mode", "generate"], "encoder-only"),
        (["fit", "resnet50", "--gpu", "gtx 760", "--mode", "generate"], "not a decoder language model"),
    ],
)
def test_bad_generate_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert needle in err and "Traceback" not in err


@pytest.mark.slow
def test_int4_7b_generate_fits_12gb_not_2gb() -> None:
    r12, r2 = gp.fit("meta-llama/Llama-2-7b-hf", gpu="RTX 3060 12GB,GTX 760", mode="generate", precision="int4",
                     prompt_len=512, new_tokens=256)
    assert r12.fits is True and r2.fits is False
    # 4-bit weights 3.88 GiB + KV cache 0.37 GiB + context, workspaces, allocator caching
    assert r12.memory.breakdown["parameters"] == 4_167_573_504
    assert r12.memory.kv_cache_bytes == 2 * 32 * 32 * 128 * 767 * 2
    assert 4.3 * 2**30 < r12.memory.device_total_bytes < 5.5 * 2**30
