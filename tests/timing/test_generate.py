"""predict_generate_time: prefill / per-token decode / tokens/s arithmetic, what a decode step reads
(every weight once, the KV cache, DynamicCache's copy), monotonicity, 4-bit gemv, N/A."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gpuplan.catalog import get_gpu
from gpuplan.timing import GenerateTimeResult, predict_generate_time
from gpuplan.trace import KernelProfile
from gpuplan.trace.generate import GenerateTrace, trace_generate
from gpuplan.workload.spec import Mode, Precision, Workload

TINY_LLAMA = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny_llama_gqa.json")
FLASH = KernelProfile(attention="flash")
RTX3060 = get_gpu("RTX 3060 12GB")


def gen(model: str, prompt: int, new: int, *, batch: int = 1, precision: str = "fp16",
        hf_config: str | None = None) -> GenerateTrace:
    w = Workload(model, batch=batch, mode=Mode.GENERATE, precision=Precision(precision), prompt_len=prompt,
                 new_tokens=new, hf_config=hf_config)
    return trace_generate(w, FLASH)


def op_bytes(ops: list) -> int:
    return sum(o.bytes_in + o.bytes_out for o in ops)


@pytest.fixture(scope="module")
def gpt2() -> GenerateTrace:
    return gen("gpt2", 32, 9, batch=2)


def test_generation_time_arithmetic(gpt2: GenerateTrace) -> None:
    r = predict_generate_time(gpt2, RTX3060, "fp16")
    assert isinstance(r, GenerateTimeResult) and r.na_reason is None
    assert r.prompt_len == 32 and r.new_tokens == 9 and r.batch == 2
    assert r.prefill_seconds and r.decode_seconds_per_token
    assert r.decode_seconds == pytest.approx(8 * r.decode_seconds_per_token)  # N - 1 decode forwards
    assert r.step_seconds == pytest.approx(r.prefill_seconds + r.decode_seconds)
    assert r.forward_seconds == r.step_seconds and r.backward_seconds == 0 and r.optimizer_seconds == 0
    assert r.tokens_per_second == pytest.approx(2 / r.decode_seconds_per_token)
    assert r.samples_per_second == pytest.approx(2 / r.step_seconds)
    assert r.top_ops and r.seconds_by_class and r.bound in ("compute", "memory", "overhead")


def test_decode_step_reads_weights_and_kv_cache(gpt2: GenerateTrace) -> None:
    weights = gpt2.bytes_by_category["parameters"]
    first, last = op_bytes(gpt2.decode_first_ops), op_bytes(gpt2.decode_last_ops)
    # every weight is read once per token (the tied lm_head reads the whole token embedding); only the
    # position table (1024 x 768) is gathered row by row
    assert first >= weights - 1024 * 768 * 2
    # the first decode step runs on a cache of P = 32 tokens, the last (step N - 1 = 8) on P + 7: per token and
    # layer, attention reads K and V once more and DynamicCache's torch.cat reads the old K/V and writes the new
    kv_per_token = 2 * 12 * 12 * 64 * 2 * 2  # K+V, 12 layers, 12 heads x 64, batch 2, fp16
    attn_first = op_bytes([o for o in gpt2.decode_first_ops if o.module.endswith(".attn")])
    attn_last = op_bytes([o for o in gpt2.decode_last_ops if o.module.endswith(".attn")])
    assert attn_last - attn_first == 3 * kv_per_token * 7
    assert last > first


def test_longer_prompt_decodes_slower() -> None:
    short = predict_generate_time(gen("gpt2", 16, 4, batch=16), RTX3060, "fp16")
    long = predict_generate_time(gen("gpt2", 900, 4, batch=16), RTX3060, "fp16")
    assert long.gpu_busy_seconds and short.gpu_busy_seconds
    assert long.decode_seconds_per_token > short.decode_seconds_per_token  # type: ignore[operator]
    assert long.prefill_seconds > short.prefill_seconds  # type: ignore[operator]


def test_faster_card_is_not_slower(gpt2: GenerateTrace) -> None:
    slow = predict_generate_time(gpt2, get_gpu("GTX 1060 6GB"), "fp16")
    fast = predict_generate_time(gpt2, get_gpu("RTX 4090"), "fp16")
    assert fast.step_seconds <= slow.step_seconds  # type: ignore[operator]
    assert fast.tokens_per_second >= slow.tokens_per_second  # type: ignore[operator]


def test_int4_batch1_decode_reads_a_quarter_of_the_weights() -> None:
    fp16 = gen("tiny", 8, 3, hf_config=TINY_LLAMA)
    int4 = gen("tiny", 8, 3, hf_config=TINY_LLAMA, precision="int4")
    lin16 = sum(o.bytes_in for o in fp16.decode_first_ops if o.module.startswith("model.layers")
                and o.name == "aten.mm.default")
    lin4 = sum(o.bytes_in for o in int4.decode_first_ops if o.name == "gpuplan.gemv_4bit")
    # 4 bits + an fp32 scale per 64 weights = 0.5625 bytes per weight instead of 2 (plus the tiny input)
    assert lin4 == pytest.approx(lin16 * 0.5625 / 2, rel=0.05)


def test_prefill_only_generation_has_no_decode_rate() -> None:
    r = predict_generate_time(gen("gpt2", 16, 1), RTX3060, "fp16")
    assert r.decode_seconds_per_token is None and r.tokens_per_second is None
    assert r.step_seconds == r.prefill_seconds


def test_missing_bandwidth_is_na(gpt2: GenerateTrace) -> None:
    r = predict_generate_time(gpt2, dataclasses.replace(RTX3060, bandwidth_gbs=None), "fp16")
    assert r.na_reason and "bandwidth" in r.na_reason
    assert r.step_seconds is None and r.tokens_per_second is None and r.prompt_len == 32
