"""Sharding arithmetic (against DeepSpeed's own estimator), the trace re-layout, step time and batch choice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpuplan.catalog import get_gpu
from gpuplan.errors import UsageError
from gpuplan.plan.cluster import cluster_for
from gpuplan.plan.strategies import (
    Strategy,
    _exposed,
    choose_batch,
    evaluate,
    plan_strategy,
    relayout,
    state_layout,
    traced_precision,
)
from gpuplan.plan.units import ModelLayout, model_layout
from gpuplan.trace import KernelProfile, Trace
from gpuplan.trace.records import Category, EventKind
from gpuplan.workload.spec import OptimizerKind, Precision, Workload

P = 7_000_000_000  # a 7B model, all trainable, traced in bf16 (DeepSpeed's bf16 mode)
N = 8
LARGEST = 131_072_000  # largest module's own parameters (LLaMA-7B embedding)


def _bf16_trace(p: int = P) -> Trace:
    """The state totals of a pure-bf16 AdamW trace (what DeepSpeed's bf16 mode computes in)."""
    return Trace(workload_key="", batch=1, kernel_profile=KernelProfile(), ops=[], events=[], param_count=p,
                 trainable_param_count=p, module_activation_bytes={},
                 bytes_by_category={"parameters": 2 * p, "gradients": 2 * p, "optimizer_state": 4 * p})


def _layout(hidden: int | None = None) -> ModelLayout:
    return ModelLayout(param_count=P, block_class="LlamaDecoderLayer", block_count=32, largest_block_params=202_383_360,
                       root_params=262_148_096, largest_module_own_params=LARGEST, hidden_size=hidden)


def _states(s: Strategy, n: int = N) -> tuple[int, int]:
    """(GPU model-state bytes, host bytes per GPU process) of strategy ``s`` on ``n`` GPUs."""
    sl = state_layout(s, _bf16_trace(), _layout(hidden=4096), n, True, OptimizerKind.ADAMW)
    return sum(v for k, v in sl.states), sum(v for _, v in sl.host)


def test_zero2_matches_deepspeed_estimator() -> None:
    est = pytest.importorskip("deepspeed.runtime.zero.stage_1_and_2", reason="deepspeed not installed")
    _cpu, gpu = est.estimate_zero2_model_states_mem_needs(P, num_gpus_per_node=N, cpu_offload=False)
    ours, _ = _states(Strategy.ZERO2)
    reduce_buffers = 2 * 4096 * 4096 * 2  # two 16-bit reduce buckets of h^2 elements (overlap_comm)
    assert ours - reduce_buffers == pytest.approx(gpu, rel=1e-6)  # 2P + 18P/N


def test_zero2_offload_matches_deepspeed_estimator_gpu_and_cpu() -> None:
    est = pytest.importorskip("deepspeed.runtime.zero.stage_1_and_2", reason="deepspeed not installed")
    # 4 GPUs: DeepSpeed's CPU term max(4N, 16) x P is then the 16 B/param of optimizer state alone
    cpu, gpu = est.estimate_zero2_model_states_mem_needs(P, num_gpus_per_node=4, cpu_offload=True,
                                                         additional_buffer_factor=1.0)
    ours_gpu, ours_host = _states(Strategy.ZERO2_OFFLOAD, n=4)
    assert ours_gpu - 2 * 4096 * 4096 * 2 == pytest.approx(gpu, rel=1e-6)  # 2P: the 16-bit parameters
    assert 4 * ours_host == pytest.approx(cpu, rel=1e-6)  # per node: fp32 master + Adam + fp32 grads


def test_zero3_close_to_deepspeed_estimator() -> None:
    est = pytest.importorskip("deepspeed.runtime.zero.stage3", reason="deepspeed not installed")
    _cpu, gpu, _ = est.estimate_zero3_model_states_mem_needs(P, LARGEST, num_gpus_per_node=N, cpu_offload=False,
                                                            cpu_offload_params=False)
    ours, _ = _states(Strategy.ZERO3)
    # ours also counts the 16-bit parameter partition (2P/N) and a prefetch bucket: within 15 %
    assert gpu < ours < 1.15 * gpu
    cpu_off, _gpu_off, _ = est.estimate_zero3_model_states_mem_needs(P, LARGEST, num_gpus_per_node=N,
                                                                    additional_buffer_factor=1.0)
    _, host = _states(Strategy.ZERO3_OFFLOAD)
    assert N * host == pytest.approx(cpu_off, rel=1e-6)  # 18 B/param per node with zero.Init


def test_sharding_orders_memory() -> None:
    ddp_like = state_layout(Strategy.DDP, _bf16_trace(), _layout(), N, False, OptimizerKind.ADAMW)
    assert dict(ddp_like.states)["ddp_gradient_buckets"] == 2 * P  # a second copy of the gradients
    order = [Strategy.ZERO1, Strategy.ZERO2, Strategy.ZERO3, Strategy.ZERO3_OFFLOAD]
    sizes = [_states(s)[0] for s in order]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert _states(Strategy.FSDP2)[0] < _states(Strategy.FSDP2_NO_RESHARD)[0]
    # FSDP2 with a MixedPrecisionPolicy: fp32 shards of parameters and gradients, fp32 Adam state
    fsdp = dict(state_layout(Strategy.FSDP2, _bf16_trace(), _layout(), N, True, OptimizerKind.ADAMW).states)
    assert fsdp["parameters"] == 4 * P // N and fsdp["gradients"] == 4 * P // N
    assert fsdp["optimizer_state"] == 8 * P // N


def test_traced_precision() -> None:
    assert traced_precision(Strategy.DDP, Precision.AMP_BF16) == (Precision.AMP_BF16, False)
    assert traced_precision(Strategy.ZERO2, Precision.AMP_BF16) == (Precision.BF16, True)
    assert traced_precision(Strategy.ZERO2, Precision.BF16) == (Precision.BF16, True)  # DeepSpeed keeps fp32 master
    assert traced_precision(Strategy.FSDP2, Precision.BF16) == (Precision.BF16, False)
    assert traced_precision(Strategy.FSDP2, Precision.FP32) == (Precision.FP32, False)


def test_exposed_overlap_rule() -> None:
    assert _exposed(1.0, 3.0, 0.1) == 0.1  # hidden behind compute but for the last bucket
    assert _exposed(5.0, 3.0, 0.1) == 2.0  # slower than compute: the rest is exposed
    assert _exposed(None, 3.0, 0.1) is None


def test_relayout_scales_states_and_adds_buffers(tiny_llama: Workload, trace_fn) -> None:  # type: ignore[no-untyped-def]
    trace = trace_fn(replace(tiny_llama, precision=Precision.BF16))
    lay = model_layout(tiny_llama)
    sl = state_layout(Strategy.ZERO3, trace, lay, 4, True, OptimizerKind.ADAMW)
    out = relayout(trace, sl)

    def total(t: Trace, cat: Category) -> int:
        return sum(e.nbytes for e in t.events if e.kind is EventKind.ALLOC and e.category is cat)

    assert total(out, Category.PARAMETER) == pytest.approx(total(trace, Category.PARAMETER) / 4, rel=0.01)
    added = {e.nbytes for e in out.events if e.op_index == -1 and e.kind is EventKind.ALLOC}
    assert sl.gathered in added and dict(sl.persistent)["fp32_master_weights"] in added
    allocs = {e.block for e in out.events if e.kind is EventKind.ALLOC}
    frees = {e.block for e in out.events if e.kind is EventKind.FREE}
    assert {e.block for e in out.events if e.op_index == -1 and e.category is Category.TEMPORARY} <= frees & allocs


def test_evaluate_one_gpu_has_no_communication(tiny_llama: Workload, trace_fn) -> None:  # type: ignore[no-untyped-def]
    cl = cluster_for((1, get_gpu("A100 80GB SXM4")))
    p = evaluate(Strategy.DDP, tiny_llama, cl, micro_batch=4, grad_accum=1, trace_fn=trace_fn, with_files=False)
    assert p.comm == [] and p.exposed_comm_seconds == 0.0
    assert p.step_seconds == pytest.approx(p.single_gpu_step_seconds)
    assert p.fits is True and p.global_batch == 4


def test_slower_link_slower_step(tiny_llama: Workload, trace_fn) -> None:  # type: ignore[no-untyped-def]
    w = replace(tiny_llama, batch=1)
    fast = evaluate(Strategy.DDP, w, cluster_for("4xA100 80GB SXM4"), micro_batch=1, grad_accum=1,
                    trace_fn=trace_fn, with_files=False)
    slow = evaluate(Strategy.DDP, w, cluster_for("4xA100 80GB SXM4", nodes=2, interconnect="eth-100g"),
                    micro_batch=1, grad_accum=1, trace_fn=trace_fn, with_files=False)
    assert fast.step_seconds is not None and slow.step_seconds is not None
    assert slow.exposed_comm_seconds > fast.exposed_comm_seconds  # type: ignore[operator]
    assert slow.scaling_efficiency < fast.scaling_efficiency <= 1.0  # type: ignore[operator]
    ar = next(c for c in slow.comm if c.op.value == "all_reduce")
    grads = 4 * 5_261_568  # fp32 gradients under autocast
    assert ar.tensor_bytes == grads and ar.bytes_sent_per_gpu == int(2 * 7 / 8 * grads)


def test_target_batch_identity_and_errors(tiny_llama: Workload, trace_fn) -> None:  # type: ignore[no-untyped-def]
    cl = cluster_for("4xGTX 1080 Ti")  # 11 GB: a large target needs accumulation
    micro, ga = choose_batch(Strategy.DDP, tiny_llama, cl, trace_fn, target_batch=32768, auto=False)
    assert micro * ga * 4 == 32768 and ga > 1
    w = replace(tiny_llama, batch=micro, grad_accum=ga)
    assert evaluate(Strategy.DDP, w, cl, micro_batch=micro, grad_accum=ga, trace_fn=trace_fn, with_files=False).fits
    bigger = replace(w, batch=micro * 2, grad_accum=max(1, ga // 2))
    assert not evaluate(Strategy.DDP, bigger, cl, micro_batch=micro * 2, grad_accum=max(1, ga // 2),
                        trace_fn=trace_fn, with_files=False).fits
    with pytest.raises(UsageError, match="multiple of the data-parallel size 4"):
        choose_batch(Strategy.DDP, tiny_llama, cl, trace_fn, target_batch=30, auto=False)


def test_plan_strategy_single_gpu_offload(tiny_llama: Workload) -> None:
    p = plan_strategy(tiny_llama, "RTX 3060 12GB", n_gpus=1, strategy="zero2-offload")
    t = 5_261_568
    # fp32 master (4) + AdamW state (8) + fp32 gradients (4) per trainable parameter on the host
    assert p.host_memory_bytes_per_gpu == pytest.approx(16 * t, rel=0.01)
    assert p.cpu_optimizer_seconds is not None and p.cpu_optimizer_seconds > 0
    assert p.dp_size == 1 and not any(c.op.value in ("all_reduce", "all_gather") for c in p.comm)
    with pytest.raises(UsageError, match="allowed"):
        plan_strategy(tiny_llama, "RTX 3060 12GB", strategy="zero4")
    with pytest.raises(UsageError, match="int8"):
        plan_strategy(replace(tiny_llama, precision=Precision.INT8), "RTX 3060 12GB")
