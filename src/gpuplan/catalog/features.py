"""Hardware features that decide which kernels and precisions run, by compute capability and vendor.

NVIDIA rules come from ``data/features.csv`` (shared data/compat.md §2.7, each row sourced). Other
vendors: from the catalog row's own columns where it has them (tensor cores, BF16, TF32, FP8); the
PyTorch SDPA flash / memory-efficient backends on ROCm, XPU and MPS are not covered by our sources, so
they are reported as unavailable (the math backend always works) and a note says so.
"""

from __future__ import annotations

from functools import cache

from gpuplan.catalog._data import read_csv, source_keys, split_list
from gpuplan.catalog.types import GPU, Features
from gpuplan.i18n import msg

_AMD_FP8_TARGETS = {"gfx942", "gfx950", "gfx1201"}  # MI300 (XLA-ROCM FP8 rate), MI355X (EPOCH), RDNA4 WMMA FP8


@cache
def _rules() -> dict[str, dict[str, str]]:
    return {r["feature"]: r for r in read_csv("features.csv")}


def _cc_matches(cc: tuple[int, int], spec: str) -> bool:
    """``spec`` like ``"5.3;6.0;6.2;7.0+"``: exact CCs, or ``X.Y+`` for X.Y and newer."""
    for item in split_list(spec):
        if item.endswith("+"):
            major, minor = item[:-1].split(".")
            if cc >= (int(major), int(minor)):
                return True
        else:
            major, minor = item.split(".")
            if cc == (int(major), int(minor)):
                return True
    return False


def nvidia_has(feature: str, gpu: GPU) -> bool:
    """True when an NVIDIA GPU has ``feature`` by the compute-capability rules of ``features.csv``."""
    cc = gpu.cc_tuple
    rule = _rules()[feature]
    if cc is None or not _cc_matches(cc, rule["nvidia_ccs"]):
        return False
    return not (rule["needs_tensor_cores"] == "yes" and not gpu.tensor_cores)


def _nvidia_features(gpu: GPU) -> Features:
    rules = _rules()
    cc = gpu.cc_tuple
    fp16_note = None
    if cc == (6, 1):
        fp16_note = msg("FP16 arithmetic runs at 1/64 of the FP32 rate on CC 6.1")
    elif cc is not None and not nvidia_has("fp16_math", gpu):
        fp16_note = msg("no native FP16 arithmetic on CC {cc}", cc=gpu.compute_capability)
    sources: list[str] = []
    for rule in rules.values():
        for key in source_keys(rule["source"]):
            if key not in sources:
                sources.append(key)
    return Features(
        fp16_math=nvidia_has("fp16_math", gpu),
        fp16_math_note=fp16_note,
        tensor_cores=nvidia_has("tensor_cores", gpu),
        bf16=nvidia_has("bf16", gpu),
        tf32=nvidia_has("tf32", gpu),
        fp8=nvidia_has("fp8", gpu),
        int8_dp4a=nvidia_has("int8_dp4a", gpu),
        int8_tensor=nvidia_has("int8_tensor", gpu),
        flash_attention=nvidia_has("flash_attention", gpu),
        mem_efficient_attention=nvidia_has("mem_efficient_attention", gpu),
        sources=tuple(sources),
    )


def _other_features(gpu: GPU) -> Features:
    """AMD / Intel / Apple / custom: from the row's own columns; unknown where the row is silent."""
    unknown: list[str] = []
    has_fp16 = gpu.fp16_tflops is not None or gpu.tensor_fp16_tflops is not None
    if not has_fp16:
        unknown.append("fp16_math")
    if gpu.vendor == "Apple":
        unknown += ["tensor_cores", "bf16", "tf32", "fp8", "int8_tensor"]
    fp8 = gpu.fp8_tflops is not None or (gpu.gfx_target in _AMD_FP8_TARGETS)
    notes = (msg("PyTorch's flash and memory-efficient SDPA backends on {vendor} GPUs are not covered by gpuplan's "
                 "sources; assumed unavailable (the math backend always runs).", vendor=gpu.vendor),)
    return Features(
        fp16_math=has_fp16,
        fp16_math_note=None,
        tensor_cores=gpu.tensor_cores,
        bf16=gpu.bf16_support,
        tf32=gpu.tf32_tflops is not None,
        fp8=fp8,
        int8_dp4a=False,
        int8_tensor=gpu.tensor_cores and gpu.int8_tops is not None,
        flash_attention=False,
        mem_efficient_attention=False,
        sources=("gpus.csv row", "XLA-ROCM") if gpu.vendor == "AMD" else ("gpus.csv row",),
        unknown=tuple(unknown),
        notes=notes,
    )


def features(gpu: GPU) -> Features:
    """Hardware features of ``gpu`` (NVIDIA by compute capability; others from their catalog row)."""
    if gpu.vendor == "NVIDIA" and gpu.cc_tuple is not None:
        return _nvidia_features(gpu)
    return _other_features(gpu)
