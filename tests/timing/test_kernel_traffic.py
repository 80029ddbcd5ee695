"""Kernel-level corrections of the time model: the extra passes of normalisation kernels, and the
backward efficiency that applies to memory-bound kernels only."""

from __future__ import annotations

import numpy as np
import pytest

from gpuplan.catalog.types import GPU
from gpuplan.timing import TimingConstants
from gpuplan.timing.model import kernel_traffic_bytes, op_arrays, op_times
from gpuplan.trace.records import OpClass, OpRecord, Phase
from gpuplan.workload.spec import Precision

A100 = GPU(name="A100 40GB PCIe", vendor="NVIDIA", architecture="Ampere", compute_capability="8.0", sms=108,
           boost_clock_mhz=1410, bandwidth_gbs=1560, fp32_tflops=19.49, fp16_tflops=78, tensor_fp16_tflops=312,
           tensor_fp16_fp16acc_tflops=312, tf32_tflops=156, int8_tops=624, tensor_cores=True, bf16_support=True)


def _op(i: int, name: str, cls: OpClass, phase: Phase, nbytes: int, flops: float = 0.0) -> OpRecord:
    return OpRecord(index=i, name=name, op_class=cls, phase=phase, module="", dtype="float16", flops=flops,
                    bytes_in=nbytes // 2, bytes_out=nbytes - nbytes // 2, tensor_core_eligible=cls is OpClass.MATMUL)


MB = 1 << 20


def test_norm_kernels_reread_their_inputs_in_training() -> None:
    train = [
        _op(0, "aten.native_batch_norm.default", OpClass.NORM, Phase.FORWARD, 8 * MB),
        _op(1, "aten.native_layer_norm.default", OpClass.NORM, Phase.FORWARD, 8 * MB),
        _op(2, "aten.relu.default", OpClass.ELEMENTWISE, Phase.FORWARD, 8 * MB),
        _op(3, "aten.native_layer_norm_backward.default", OpClass.NORM, Phase.BACKWARD, 12 * MB),
        _op(4, "aten.native_batch_norm_backward.default", OpClass.NORM, Phase.BACKWARD, 12 * MB),
    ]
    b = kernel_traffic_bytes(op_arrays(train))
    assert b[0] == pytest.approx(12 * MB)  # statistics pass + normalisation pass
    assert b[1] == pytest.approx(8 * MB)  # layer norm: one pass
    assert b[2] == pytest.approx(8 * MB)
    assert b[3] == pytest.approx(20 * MB) and b[4] == pytest.approx(20 * MB)  # dx pass + weight-gradient pass
    # the same batch norm in an inference step uses running statistics: one pass
    infer = kernel_traffic_bytes(op_arrays(train[:3]))
    assert infer[0] == pytest.approx(8 * MB)


def test_backward_efficiency_slows_memory_bound_kernels_not_gemms() -> None:
    n = 4096
    ops = [
        _op(0, "aten.mm.default", OpClass.MATMUL, Phase.BACKWARD, 3 * n * n * 2, flops=2.0 * n**3),
        _op(1, "aten.threshold_backward.default", OpClass.ELEMENTWISE, Phase.BACKWARD, 64 * MB),
        _op(2, "aten.relu.default", OpClass.ELEMENTWISE, Phase.FORWARD, 64 * MB),
    ]
    a = op_arrays(ops)
    fast = op_times(a, A100, Precision.FP16, TimingConstants(eff_backward_mem=1.0))
    slow = op_times(a, A100, Precision.FP16, TimingConstants(eff_backward_mem=0.5))
    assert slow.t_compute[0] == pytest.approx(fast.t_compute[0])  # dgrad/wgrad GEMM: forward efficiency
    assert slow.t_memory[1] == pytest.approx(2 * fast.t_memory[1])  # backward memory-bound kernel
    assert slow.t_memory[2] == pytest.approx(fast.t_memory[2])  # forward untouched
    assert np.all(slow.t_gpu >= fast.t_gpu)
