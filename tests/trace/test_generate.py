"""--mode generate: KV cache and weight bytes against closed forms, the replayed cache growth against
a trace of every decode step, GQA without repeated K/V, refusals, batch scaling."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuplan.catalog import get_gpu
from gpuplan.errors import UsageError
from gpuplan.memory.batch import BatchScaler
from gpuplan.memory.predict import replay
from gpuplan.trace import KernelProfile, trace_workload
from gpuplan.trace.generate import (
    DEFAULT_NEW_TOKENS,
    DEFAULT_PROMPT_LEN,
    GenerateTrace,
    generate_lengths,
    trace_generate,
)
from gpuplan.trace.records import Category, EventKind, Phase
from gpuplan.workload.spec import InputSpec, Mode, Precision, Workload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_LLAMA = str(FIXTURES / "tiny_llama_gqa.json")  # 2 layers, 4 heads, 1 KV head, head_dim 16
TINY_MISTRAL = str(FIXTURES / "tiny_mistral_sliding.json")  # 2 layers, 2 KV heads, head_dim 16, window 16
FLASH = KernelProfile(attention="flash")
GPU = get_gpu("RTX 3090")


def gen(model: str, prompt: int, new: int, *, batch: int = 1, precision: str = "fp16",
        hf_config: str | None = None, profile: KernelProfile = FLASH, every_step: bool = False) -> GenerateTrace:
    w = Workload(model, batch=batch, mode=Mode.GENERATE, precision=Precision(precision), prompt_len=prompt,
                 new_tokens=new, hf_config=hf_config)
    return trace_generate(w, profile, every_step=every_step)


def kv_formula(layers: int, kv_heads: int, head_dim: int, tokens: int, batch: int, dtype_bytes: int = 2) -> int:
    # K and V, per layer [batch, kv_heads, tokens, head_dim] (DynamicCache layout)
    return 2 * layers * kv_heads * head_dim * tokens * batch * dtype_bytes


def kv_allocs(t: GenerateTrace, phase: Phase = Phase.DECODE) -> list[int]:
    return [e.nbytes for e in t.events
            if e.kind is EventKind.ALLOC and e.category is Category.KV_CACHE and e.phase is phase]


# The cache ends at prompt + new - 1 tokens: the last generated token is never fed back.
@pytest.mark.parametrize(("model", "layers", "kv_heads", "head_dim"), [
    ("gpt2", 12, 12, 64),  # MHA: 12 heads of 64
    ("Qwen/Qwen2.5-0.5B", 24, 2, 64),  # GQA: 14 query heads, 2 KV heads, hidden 896
])
def test_kv_cache_bytes_formula(model: str, layers: int, kv_heads: int, head_dim: int) -> None:
    t = gen(model, 24, 6, batch=2)
    assert t.kv_cache_bytes == kv_formula(layers, kv_heads, head_dim, 24 + 6 - 1, 2)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["meta-llama/Meta-Llama-3-8B", "mistralai/Mistral-7B-v0.1"])
def test_kv_cache_bytes_formula_7b_8b(model: str) -> None:
    # both: 32 layers, 8 KV heads of 128 (GQA, 32 query heads); Mistral's 4096 window is not reached
    t = gen(model, 40, 4)
    assert t.kv_cache_bytes == kv_formula(32, 8, 128, 43, 1)
    assert t.kv_cache_bytes == 2 * 32 * 8 * 128 * 43 * 2 == 5_636_096
    if model.startswith("meta-llama"):
        assert t.param_count == 8_030_261_248
        assert t.bytes_by_category["parameters"] == 2 * 8_030_261_248


def test_weights_bytes_exact_gpt2() -> None:
    t = gen("gpt2", 8, 2)
    assert t.param_count == 124_439_808  # lm_head tied to the token embedding
    assert t.bytes_by_category["parameters"] == 2 * 124_439_808
    t32 = gen("gpt2", 8, 2, precision="fp32")
    assert t32.bytes_by_category["parameters"] == 4 * 124_439_808


@pytest.mark.slow
def test_llama2_7b_weight_bytes_fp16_and_int4() -> None:
    # LLaMA-2-7B: 32 layers of q,k,v,o (4096^2) and gate,up,down (4096 x 11008); embed and lm_head 32000 x 4096
    linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    other = 2 * 32000 * 4096 + (2 * 32 + 1) * 4096  # embed, lm_head, RMSNorm weights
    fp16 = gen("meta-llama/Llama-2-7b-hf", 16, 2)
    assert fp16.param_count == linear + other == 6_738_415_616
    assert fp16.bytes_by_category["parameters"] == 2 * (linear + other) == 13_476_831_232  # 12.55 GiB
    int4 = gen("meta-llama/Llama-2-7b-hf", 16, 2, precision="int4")
    # bitsandbytes 4-bit: 2 weights per byte + one fp32 absmax per 64 weights; embed/lm_head/norms stay fp16
    assert int4.param_count == linear + other
    assert int4.bytes_by_category["parameters"] == linear // 2 + 4 * (linear // 64) + 2 * other == 4_167_573_504


@pytest.mark.parametrize(("model", "hf_config", "prompt", "new"), [
    ("gpt2", None, 32, 12),
    ("tiny", TINY_LLAMA, 20, 12),
    ("tiny", TINY_MISTRAL, 10, 20),  # the 16-token window fills during decoding: growth stops midway
    ("tiny", TINY_MISTRAL, 30, 8),  # window already full after the prefill
])
def test_replayed_growth_equals_every_step_traced(model: str, hf_config: str | None, prompt: int, new: int) -> None:
    fast = gen(model, prompt, new, batch=2, hf_config=hf_config)
    full = gen(model, prompt, new, batch=2, hf_config=hf_config, every_step=True)
    assert fast.middle_steps_replayed == new - 3
    assert kv_allocs(fast) == kv_allocs(full)  # every torch.cat reallocation, in order, same sizes
    assert fast.kv_cache_bytes == full.kv_cache_bytes
    a, b = replay(fast, GPU).allocator.stats, replay(full, GPU).allocator.stats
    assert a.peak_allocated == b.peak_allocated
    assert a.peak_reserved == b.peak_reserved
    assert len(fast.events) < len(full.events)


def test_sliding_window_cache_stops_growing() -> None:
    t = gen("tiny", 10, 20, hf_config=TINY_MISTRAL)
    per_token = 2 * 16 * 2  # one layer's K (or V): 2 KV heads x head_dim 16 x fp16
    sizes = kv_allocs(t)
    assert max(sizes) == 16 * per_token  # the window (15 kept + 1 new), not 29 tokens
    assert t.kv_cache_bytes == kv_formula(2, 2, 16, 16, 1)


def test_middle_steps_subsampled_for_long_generations() -> None:
    t = gen("tiny", 8, 300, hf_config=TINY_LLAMA)
    assert t.middle_steps_replayed == 128
    assert t.kv_cache_bytes == kv_formula(2, 1, 16, 8 + 300 - 1, 1)
    assert any("evenly spaced" in a for a in t.assumptions)


def test_gqa_kv_not_repeated_by_fused_kernels() -> None:
    prompt, new = 64, 3
    expanded = 1 * 4 * (prompt + new - 1) * 16 * 2  # K repeated to 4 query heads at the last step

    def decode_max(profile: KernelProfile) -> int:
        t = gen("tiny", prompt, new, hf_config=TINY_LLAMA, profile=profile)
        return max(e.nbytes for e in t.events if e.kind is EventKind.ALLOC and e.phase is Phase.DECODE
                   and e.category is Category.TEMPORARY)

    assert decode_max(FLASH) < expanded
    assert decode_max(KernelProfile(attention="mem_efficient")) < expanded
    assert decode_max(KernelProfile(attention="math")) >= expanded  # the math kernel repeats K/V


def test_ops_split_prefill_first_last() -> None:
    t = gen("gpt2", 16, 5)
    assert t.decode_steps == 4
    assert {o.phase for o in t.prefill_ops} == {Phase.PREFILL}
    assert {o.phase for o in t.decode_first_ops} == {Phase.DECODE}
    assert [o.name for o in t.decode_first_ops] == [o.name for o in t.decode_last_ops]
    assert len(t.ops) == t.n_prefill_ops + t.n_decode_first_ops + t.n_decode_last_ops
    # only the last position's logits are computed (logits_to_keep=1): lm_head is one row per sequence
    head = [o for o in t.prefill_ops if o.module == "lm_head" and o.name == "aten.mm.default"]
    assert head and head[0].shapes[0] == (1, 768)


def test_one_new_token_is_prefill_only() -> None:
    t = gen("gpt2", 16, 1)
    assert t.decode_steps == 0 and t.n_decode_first_ops == 0
    assert not kv_allocs(t)
    assert t.kv_cache_bytes == kv_formula(12, 12, 64, 16, 1)


def test_trace_workload_dispatches_generate() -> None:
    w = Workload("gpt2", batch=1, mode=Mode.GENERATE, prompt_len=8, new_tokens=2)
    assert isinstance(trace_workload(w, FLASH), GenerateTrace)


def test_default_lengths_and_seq_len_as_prompt() -> None:
    assert generate_lengths(Workload("gpt2", mode=Mode.GENERATE)) == (DEFAULT_PROMPT_LEN, DEFAULT_NEW_TOKENS)
    assert generate_lengths(Workload("gpt2", mode=Mode.GENERATE, seq_len=100)) == (100, DEFAULT_NEW_TOKENS)
    with pytest.raises(UsageError, match="disagree"):
        generate_lengths(Workload("gpt2", mode=Mode.GENERATE, seq_len=100, prompt_len=50))
    with pytest.raises(UsageError, match="--new-tokens"):
        generate_lengths(Workload("gpt2", mode=Mode.GENERATE, new_tokens=0))


@pytest.mark.parametrize(("model", "needle"), [
    ("bert-base-uncased", "encoder-only"),
    ("resnet50", "cnn model, not a decoder language model"),
    ("t5-small", "encoder-decoder"),
    ("lenet5", "not a decoder language model"),
])
def test_refuses_non_decoder_models(model: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        trace_workload(Workload(model, mode=Mode.GENERATE, prompt_len=8, new_tokens=2))


def test_refuses_positions_past_learned_table_and_inputs() -> None:
    with pytest.raises(UsageError, match="learned position table of 1024"):
        gen("gpt2", 1000, 100)
    with pytest.raises(UsageError, match="--input"):
        trace_workload(Workload("gpt2", mode=Mode.GENERATE, inputs=(InputSpec((8,), "int64"),)))


def test_batch_scaler_is_affine_for_generate() -> None:
    w = Workload("gpt2", batch=1, mode=Mode.GENERATE, prompt_len=16, new_tokens=6)
    scaler = BatchScaler(lambda x: trace_workload(x, FLASH), w)
    assert scaler.affine
    real = trace_workload(w.with_batch(3), FLASH)
    assert isinstance(scaler.at(3), GenerateTrace)
    assert [e.nbytes for e in scaler.at(3).events] == [e.nbytes for e in real.events]
    assert scaler.at(3).kv_cache_bytes == kv_formula(12, 12, 64, 21, 3, dtype_bytes=4)  # fp32


def test_int4_batch1_decode_reads_packed_weights() -> None:
    t = gen("tiny", 8, 3, hf_config=TINY_LLAMA, precision="int4")
    gemv = [o for o in t.decode_first_ops if o.name == "gpuplan.gemv_4bit"]
    assert len(gemv) == 2 * 7  # q, k, v, o, gate, up, down per layer (lm_head stays fp16)
    assert not [o for o in t.prefill_ops if o.name == "gpuplan.gemv_4bit"]  # the prompt dequantizes
    batched = gen("tiny", 8, 3, hf_config=TINY_LLAMA, precision="int4", batch=2)
    assert not [o for o in batched.decode_first_ops if o.name == "gpuplan.gemv_4bit"]


def test_generate_trace_depends_on_attention_backend() -> None:
    t = gen("gpt2", 8, 3)
    assert "flash" in t.kernels_used and t.depends_on_attention_backend
