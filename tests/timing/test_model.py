"""Timing model on hand-made op lists and GPU records (no tracer, no catalog needed)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from gpuplan.catalog.types import GPU
from gpuplan.timing import TimingConstants, Unit, predict_many, predict_time, rate_for
from gpuplan.timing.model import default_constants, op_arrays
from gpuplan.trace.records import KernelProfile, OpClass, OpRecord, Phase, Trace
from gpuplan.workload.spec import Precision

# --- GPU records (values from shared/data/gpu-specs.csv) -------------------------------------------

GTX760 = GPU(name="GeForce GTX 760", vendor="NVIDIA", architecture="Kepler", compute_capability="3.0", sms=6,
             cuda_cores=1152, boost_clock_mhz=1032, bandwidth_gbs=192.3, fp32_tflops=2.38)
GTX1080TI = GPU(name="GeForce GTX 1080 Ti", vendor="NVIDIA", architecture="Pascal", compute_capability="6.1",
                sms=28, cuda_cores=3584, boost_clock_mhz=1582, bandwidth_gbs=484.4, fp32_tflops=11.34,
                fp16_tflops=0.177)
P100 = GPU(name="Tesla P100 PCIe 16GB", vendor="NVIDIA", architecture="Pascal", compute_capability="6.0",
           sms=56, boost_clock_mhz=1329, bandwidth_gbs=732.2, fp32_tflops=9.53, fp16_tflops=19.05)
T4 = GPU(name="Tesla T4", vendor="NVIDIA", architecture="Turing", compute_capability="7.5", sms=40,
         boost_clock_mhz=1590, bandwidth_gbs=320, fp32_tflops=8.14, tensor_fp16_tflops=65.1,
         tensor_fp16_fp16acc_tflops=65.1, int8_tops=130.3, tensor_cores=True)
RTX2080TI = GPU(name="GeForce RTX 2080 Ti", vendor="NVIDIA", architecture="Turing", compute_capability="7.5",
                sms=68, boost_clock_mhz=1545, bandwidth_gbs=616, fp32_tflops=13.45, fp16_tflops=26.9,
                tensor_fp16_tflops=53.8, tensor_fp16_fp16acc_tflops=107.6, tensor_cores=True)
RTX3060 = GPU(name="GeForce RTX 3060 12GB", vendor="NVIDIA", architecture="Ampere", compute_capability="8.6",
              sms=28, boost_clock_mhz=1777, bandwidth_gbs=360, fp32_tflops=12.74, fp16_tflops=12.74,
              tensor_fp16_tflops=25.5, tensor_fp16_fp16acc_tflops=51, tf32_tflops=12.7, tensor_cores=True,
              bf16_support=True)
A100 = GPU(name="A100 40GB PCIe", vendor="NVIDIA", architecture="Ampere", compute_capability="8.0", sms=108,
           boost_clock_mhz=1410, bandwidth_gbs=1560, fp32_tflops=19.49, fp16_tflops=78, tensor_fp16_tflops=312,
           tensor_fp16_fp16acc_tflops=312, tf32_tflops=156, int8_tops=624, tensor_cores=True, bf16_support=True)
H100 = GPU(name="H100 SXM5 80GB", vendor="NVIDIA", architecture="Hopper", compute_capability="9.0", sms=132,
           boost_clock_mhz=1980, bandwidth_gbs=3350, fp32_tflops=66.91, fp16_tflops=133.8,
           tensor_fp16_tflops=989.4, tensor_fp16_fp16acc_tflops=989.4, tf32_tflops=494.7, tensor_cores=True,
           bf16_support=True)
ADA_PRO = GPU(name="RTX 6000 Ada Generation", vendor="NVIDIA", architecture="Ada Lovelace",
              compute_capability="8.9", sms=142, bandwidth_gbs=960, fp32_tflops=91.06, fp16_tflops=91.06,
              tensor_fp16_fp16acc_tflops=364.2, tensor_cores=True, bf16_support=True)
APPLE = GPU(name="Apple M2 Max", vendor="Apple", architecture="Apple silicon", compute_capability=None, sms=38,
            bandwidth_gbs=400)

C = TimingConstants()  # unfitted priors: the tests check structure, not fitted values


def op(i: int, cls: OpClass, flops: float, nbytes: int, dtype: str = "float32", phase: Phase = Phase.FORWARD,
       tc: bool = False, name: str = "aten.x") -> OpRecord:
    return OpRecord(index=i, name=name, op_class=cls, phase=phase, module=f"m{i}", dtype=dtype, flops=flops,
                    bytes_in=nbytes // 2, bytes_out=nbytes - nbytes // 2, tensor_core_eligible=tc)


def trace_of(ops: list[OpRecord], batch: int = 1) -> Trace:
    return Trace(workload_key="test", batch=batch, kernel_profile=KernelProfile(), ops=ops, events=[],
                 param_count=0, trainable_param_count=0, bytes_by_category={}, module_activation_bytes={})


def gemm(n: int, dtype: str = "float32", phase: Phase = Phase.FORWARD, i: int = 0) -> OpRecord:
    size = 2 if dtype in ("float16", "bfloat16") else 4
    return op(i, OpClass.MATMUL, 2.0 * n**3, 3 * n * n * size, dtype, phase, tc=True, name="aten.mm")


def conv(flops: float, nbytes: int, dtype: str = "float32", i: int = 0) -> OpRecord:
    return op(i, OpClass.CONV, flops, nbytes, dtype, tc=True, name="aten.convolution")


# --- rate_for ------------------------------------------------------------------------------------


def test_kepler_fp16_runs_at_fp32_rate() -> None:
    r = rate_for(GTX760, "float16", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.AMP_FP16)
    assert r.tflops == GTX760.fp32_tflops and r.unit is Unit.CUDA
    assert r.note and "FP32 rate" in r.note


def test_pascal_61_fp16_uses_fp32_math_not_the_1_64_rate() -> None:
    r = rate_for(GTX1080TI, "float16", Unit.TENSOR, op_class=OpClass.CONV, precision=Precision.AMP_FP16)
    assert r.tflops == GTX1080TI.fp32_tflops


def test_p100_native_fp16_is_faster() -> None:
    r = rate_for(P100, "float16", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.FP16)
    assert r.tflops == P100.fp16_tflops


def test_turing_amp_uses_fp32_accumulate_tensor_rate() -> None:
    r = rate_for(RTX2080TI, "float16", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.AMP_FP16)
    assert r.tflops == 53.8 and r.unit is Unit.TENSOR  # not the 107.6 FP16-accumulate rate


def test_turing_fp32_has_no_tf32() -> None:
    r = rate_for(T4, "float32", Unit.TENSOR, op_class=OpClass.CONV, precision=Precision.FP32)
    assert r.tflops == T4.fp32_tflops and r.unit is Unit.CUDA


def test_ampere_fp32_defaults_tf32_for_conv_not_matmul() -> None:
    rc = rate_for(A100, "float32", Unit.TENSOR, op_class=OpClass.CONV, precision=Precision.FP32)
    rm = rate_for(A100, "float32", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.FP32)
    assert rc.tflops == 156 and rc.unit is Unit.TENSOR
    assert rm.tflops == 19.49 and rm.unit is Unit.CUDA
    rt = rate_for(A100, "float32", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.TF32)
    assert rt.tflops == 156


def test_hopper_rates() -> None:
    assert rate_for(H100, "bfloat16", Unit.TENSOR, op_class=OpClass.MATMUL,
                    precision=Precision.AMP_BF16).tflops == 989.4
    assert rate_for(H100, "float32", Unit.CUDA).tflops == 66.91


def test_bf16_before_ampere_runs_through_fp32() -> None:
    r = rate_for(T4, "bfloat16", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.AMP_BF16)
    assert r.tflops == T4.fp32_tflops and r.note


def test_pro_ada_without_fp32acc_rate_uses_half_of_fp16acc_with_note() -> None:
    r = rate_for(ADA_PRO, "float16", Unit.TENSOR, op_class=OpClass.MATMUL, precision=Precision.AMP_FP16)
    assert r.tflops == pytest.approx(364.2 / 2) and r.note


def test_missing_rates_give_none() -> None:
    assert rate_for(APPLE, "float32", Unit.CUDA).tflops is None


# --- predict_time --------------------------------------------------------------------------------


def test_amp_on_gtx760_is_not_faster() -> None:
    fp32 = [gemm(2048, "float32", i=0)]
    amp = [op(0, OpClass.COPY, 0, 2048 * 2048 * 6, "float16", name="aten._to_copy"),
           gemm(2048, "float16", i=1)]
    t32 = predict_time(trace_of(fp32), GTX760, Precision.FP32, constants=C)
    t16 = predict_time(trace_of(amp), GTX760, Precision.AMP_FP16, constants=C)
    assert t16.step_seconds is not None and t32.step_seconds is not None
    assert t16.step_seconds >= t32.step_seconds
    assert any("FP32 rate" in n for n in t16.notes)


def test_tf32_conv_speeds_up_a100_fp32() -> None:
    ops = [conv(5e11, 200_000_000)]
    a = predict_time(trace_of(ops), A100, Precision.FP32, constants=C)
    t4 = predict_time(trace_of(ops), T4, Precision.FP32, constants=C)
    assert a.step_seconds is not None and t4.step_seconds is not None
    assert t4.step_seconds / a.step_seconds > 5  # TF32 tensor 156 vs 8.1 FP32


def test_bigger_gpu_not_slower_for_big_gemm() -> None:
    ops = [gemm(8192, "float16")]
    order = [GTX760, GTX1080TI, RTX3060, RTX2080TI, A100, H100]  # increasing FP16 (FP32-acc) peak
    times = [predict_time(trace_of(ops), g, Precision.AMP_FP16, constants=C).step_seconds for g in order]
    assert all(t is not None for t in times)
    assert all(times[i] > times[i + 1] for i in range(len(times) - 1))


def test_tiny_model_batch1_is_overhead_bound() -> None:
    ops = [op(i, OpClass.ELEMENTWISE, 100, 4000) for i in range(50)] + [gemm(16, i=50)]
    for g in (GTX760, A100):
        r = predict_time(trace_of(ops), g, Precision.FP32, constants=C)
        assert r.bound == "overhead"
        assert r.step_seconds == pytest.approx(51 * C.cpu_op_seconds + C.step_seconds, rel=0.2)


def test_memory_bound_elementwise_scales_with_bandwidth() -> None:
    ops = [op(0, OpClass.ELEMENTWISE, 1e8, 4_000_000_000)]
    r_a = predict_time(trace_of(ops), A100, Precision.FP32, constants=C)
    r_t = predict_time(trace_of(ops), T4, Precision.FP32, constants=C)
    assert r_a.bound == "memory"
    assert r_t.gpu_busy_seconds / r_a.gpu_busy_seconds == pytest.approx(1560 / 320, rel=0.05)


def test_phases_and_throughput() -> None:
    ops = [gemm(4096, i=0), gemm(4096, phase=Phase.BACKWARD, i=1), gemm(4096, phase=Phase.BACKWARD, i=2),
           op(3, OpClass.OPTIMIZER, 1e7, 200_000_000, phase=Phase.OPTIMIZER, name="aten._foreach_add_")]
    r = predict_time(trace_of(ops, batch=32), A100, Precision.FP32, constants=C)
    assert r.forward_seconds and r.backward_seconds and r.optimizer_seconds
    assert r.backward_seconds > r.forward_seconds > r.optimizer_seconds
    total = r.forward_seconds + r.backward_seconds + r.optimizer_seconds
    assert total == pytest.approx(r.step_seconds, rel=1e-6)
    assert r.samples_per_second == pytest.approx(32 / r.step_seconds)
    assert r.epoch_seconds(100) == pytest.approx(4 * r.step_seconds)  # ceil(100/32) = 4 steps
    assert r.top_ops[0].op_class == "matmul"
    json.dumps(r.to_dict())  # JSON-serialisable


def test_samples_per_step_for_grad_accum() -> None:
    r = predict_time(trace_of([gemm(1024)], batch=8), A100, Precision.FP32, constants=C, samples_per_step=32)
    assert r.samples_per_second == pytest.approx(32 / r.step_seconds)


def test_na_when_bandwidth_missing() -> None:
    g = replace(A100, bandwidth_gbs=None)
    r = predict_time(trace_of([gemm(1024)]), g, Precision.FP32, constants=C)
    assert r.step_seconds is None and r.na_reason and "bandwidth" in r.na_reason


def test_na_when_gemm_rate_missing() -> None:
    r = predict_time(trace_of([gemm(1024)]), APPLE, Precision.FP32, constants=C)
    assert r.step_seconds is None and r.na_reason


def test_views_and_bookkeeping_are_free() -> None:
    ops = [op(0, OpClass.VIEW, 0, 0), op(1, OpClass.ELEMENTWISE, 0, 0, name="prim.device.default"),
           op(2, OpClass.ELEMENTWISE, 0, 8, phase=Phase.SETUP, name="aten.randn")]
    assert len(op_arrays(ops)) == 0


def test_predict_many_matches_predict_time() -> None:
    tr = trace_of([gemm(2048), conv(1e10, 10_000_000, i=1)])
    many = predict_many(tr, [T4, A100], Precision.FP32, constants=C)
    one = predict_time(tr, A100, Precision.FP32, constants=C)
    assert many[1].step_seconds == pytest.approx(one.step_seconds)


def test_shipped_constants_load_and_are_finite() -> None:
    c = default_constants()
    assert all(math.isfinite(v) and v > 0 for v in c.to_vector())
    assert np.allclose(TimingConstants.from_vector(c.to_vector()).to_vector(), c.to_vector())


def test_product_trace_lenet5_end_to_end() -> None:
    """A real trace (gpuplan.trace) of the seed LeNet-5: host-bound on old and new GPUs alike."""
    from gpuplan.trace import trace_workload
    from gpuplan.workload.spec import Workload

    tr = trace_workload(Workload(model="lenet5", batch=64))
    res = predict_many(tr, [GTX760, RTX3060], Precision.FP32)
    assert all(r.bound == "overhead" for r in res)
    assert res[0].step_seconds == pytest.approx(res[1].step_seconds, rel=0.1)
    assert any(t.module for t in res[0].top_ops)  # module paths come through (forward ops)
    json.dumps([r.to_dict() for r in res])


def test_grad_accumulation_repeats_forward_backward_not_the_optimizer() -> None:
    from gpuplan.catalog import get_gpu
    from gpuplan.timing import predict_time
    from gpuplan.trace import trace_workload
    from gpuplan.workload.spec import Workload

    gpu = get_gpu("RTX 3060 12GB")
    one = predict_time(trace_workload(Workload("lenet5", batch=16)), gpu, "fp32")
    four = predict_time(trace_workload(Workload("lenet5", batch=16, grad_accum=4)), gpu, "fp32")
    assert four.batch == 64
    assert four.forward_seconds == pytest.approx(4 * one.forward_seconds, rel=0.05)
    assert four.optimizer_seconds == pytest.approx(one.optimizer_seconds, rel=0.05)
    # micro-steps after the first also add into the existing gradients (extra kernels), so the step
    # costs at least 3 more forward+backward passes, and not wildly more
    lower = one.step_seconds + 3 * (one.forward_seconds + one.backward_seconds)
    assert lower <= four.step_seconds <= 1.5 * lower
    assert four.samples_per_second == pytest.approx(64 / four.step_seconds)
