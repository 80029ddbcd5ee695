"""MoE experts (transformers grouped_mm) trace in every precision: float16 / float32 grouped GEMMs are
emulated as one kernel (torch's meta kernel takes only bfloat16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuplan.trace import trace_workload
from gpuplan.trace.records import KernelProfile, Phase
from gpuplan.workload.spec import Mode, Precision, Workload

TINY_MIXTRAL = {
    "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 4,
    "num_experts_per_tok": 2, "vocab_size": 128, "max_position_embeddings": 256,
}


@pytest.fixture
def tiny_mixtral(tmp_path: Path) -> str:
    p = tmp_path / "config.json"
    p.write_text(json.dumps(TINY_MIXTRAL))
    return str(p)


@pytest.mark.parametrize(("mode", "precision"), [(Mode.INFER, Precision.FP16), (Mode.TRAIN, Precision.AMP_FP16),
                                                 (Mode.TRAIN, Precision.FP32), (Mode.INFER, Precision.BF16)])
def test_moe_experts_trace_with_exact_expert_flops(tiny_mixtral: str, mode: Mode, precision: Precision) -> None:
    seq, batch = 16, 2
    t = trace_workload(Workload("custom-moe", hf_config=tiny_mixtral, batch=batch, seq_len=seq, mode=mode,
                                precision=precision), KernelProfile(attention="flash"))
    grouped = [o for o in t.ops if "grouped_mm" in o.name and o.phase is Phase.FORWARD]
    h, i, layers = TINY_MIXTRAL["hidden_size"], TINY_MIXTRAL["intermediate_size"], TINY_MIXTRAL["num_hidden_layers"]
    routed = batch * seq * TINY_MIXTRAL["num_experts_per_tok"]
    # per layer: gate+up projection (H -> 2I) and down projection (I -> H) over every routed token
    assert sum(o.flops for o in grouped) == pytest.approx(layers * (2 * routed * h * 2 * i + 2 * routed * i * h))
    if mode is Mode.TRAIN:
        assert any("grouped_mm" in o.name and o.phase is Phase.BACKWARD for o in t.ops)
