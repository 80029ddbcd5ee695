"""The derived second micro-step of gradient accumulation equals the traced one, event for event and op for op."""

from __future__ import annotations

from pathlib import Path

import pytest

import gpuplan.trace.tracer as tracer_module
from gpuplan.trace import trace_workload
from gpuplan.trace.records import KernelProfile, Trace
from gpuplan.workload.spec import InputSpec, OptimizerKind, Precision, Workload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models.py"


def _fixture(name: str, shape: tuple[int, ...], dtype: str = "float32", **kw: object) -> Workload:
    return Workload(f"{FIXTURES}:{name}", inputs=(InputSpec(shape, dtype),), **kw)  # type: ignore[arg-type]


def _derived_count(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each trace's second micro-step was derived (True) or traced (False)."""
    seen: list[bool] = []
    plan = tracer_module.plan_second_micro_step

    def spy(*args: object, **kwargs: object) -> object:
        result = plan(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(result is not None)
        return result

    monkeypatch.setattr(tracer_module, "plan_second_micro_step", spy)
    return seen


def _same(a: Trace, b: Trace) -> None:
    assert len(a.events) == len(b.events) and len(a.ops) == len(b.ops)
    for i, (x, y) in enumerate(zip(a.events, b.events, strict=True)):
        assert x == y, f"event {i}"
    for i, (x, y) in enumerate(zip(a.ops, b.ops, strict=True)):
        assert x == y, f"op {i}"
    assert a.bytes_by_category == b.bytes_by_category
    assert a.module_activation_bytes == b.module_activation_bytes


P, Opt = Precision, OptimizerKind
CASES = {
    "mlp": Workload("mlp", batch=3, grad_accum=2),
    "mlp-amp-fp16-sgd-4-steps": Workload("mlp", batch=2, grad_accum=4, precision=P.AMP_FP16, optimizer=Opt.SGD),
    "mlp-keep-zeroed-grads": Workload("mlp", batch=3, grad_accum=2, extra=(("set_to_none", False),)),
    "cnn-amp-bf16": Workload("cifar_cnn", batch=2, grad_accum=2, precision=P.AMP_BF16),
    "lstm-amp-fp16": Workload("lstm", batch=1, grad_accum=2, precision=P.AMP_FP16),
    "checkpointed-blocks": _fixture("blocks", (256,), batch=2, grad_accum=2, checkpointing=True),
    "tied-weights": _fixture("tied_weights", (8,), "int64", batch=2, grad_accum=2),
    "linear-stack-lora": _fixture("mlp_linear", (32,), batch=2, grad_accum=2, lora_rank=4),
    "reused-module": _fixture("reused_module", (16,), batch=2, grad_accum=2),
    "mlp-pure-fp16-per-parameter-adamw": Workload("mlp", batch=2, grad_accum=2, precision=P.FP16,
                                                  extra=(("foreach", False),)),
    "cnn-8-bit-adam": Workload("cifar_cnn", batch=2, grad_accum=2, optimizer=Opt.ADAM8BIT),
    "frozen-layers-adafactor": _fixture("mlp_linear", (32,), batch=2, grad_accum=2, freeze=("0",),
                                        optimizer=Opt.ADAFACTOR),
    "shared-incoming-gradient": _fixture("position_added", (8, 16), batch=1, grad_accum=2),
    "shared-incoming-gradient-batch-2": _fixture("position_added", (8, 16), batch=2, grad_accum=2),
    "storage-outlives-micro-step": _fixture("keeps_last_output", (16,), batch=2, grad_accum=2),
}
# traced both ways; False: the rules do not cover it and the tracer traces the second micro-step itself
DERIVED = {"shared-incoming-gradient": False, "storage-outlives-micro-step": False}


@pytest.mark.parametrize("case", sorted(CASES))
def test_derived_second_micro_step_equals_traced(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    w = CASES[case]
    seen = _derived_count(monkeypatch)
    derived = trace_workload(w)
    assert seen == [DERIVED.get(case, True)]
    traced = trace_workload(w, trace_second_micro_step=True)
    assert seen == [DERIVED.get(case, True)]  # the plan is not even made when told to trace
    _same(derived, traced)


@pytest.mark.slow
@pytest.mark.parametrize("w", [
    Workload("resnet50", batch=2, grad_accum=2, precision=P.AMP_FP16, checkpointing=True),
    Workload("bert-base-uncased", batch=2, seq_len=64, grad_accum=2, precision=P.AMP_FP16),
    Workload("gpt2", batch=1, seq_len=64, grad_accum=2, lora_rank=8),
    Workload("Qwen/Qwen2.5-0.5B", batch=1, seq_len=32, grad_accum=2, precision=P.AMP_BF16, checkpointing=True),
    Workload("vit_b_16", batch=1, grad_accum=2),  # position embedding: traced (shared incoming gradient)
], ids=lambda w: f"{w.model}-{w.precision.value}")
def test_derived_second_micro_step_equals_traced_on_zoo_models(w: Workload) -> None:
    profile = KernelProfile(attention="flash") if w.model != "resnet50" else None
    _same(trace_workload(w, profile), trace_workload(w, profile, trace_second_micro_step=True))


def test_one_micro_step_traced_without_accumulation(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _derived_count(monkeypatch)
    trace_workload(Workload("mlp", batch=2))
    assert seen == []
