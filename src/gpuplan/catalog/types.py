"""Typed records of the GPU catalog. Unknown values are ``None`` (rendered as N/A), never guessed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GPU:
    """One GPU *device* as PyTorch sees it (a dual-die board such as the Tesla K80 is two of these).

    Units: bytes for memory, GB/s (1e9 B/s) for bandwidth, TFLOPS (1e12 FLOP/s) for rates, dense
    (no sparsity). Tensor rates with FP32 accumulate (what AMP training uses) and with FP16
    accumulate are kept apart: GeForce cards run FP16-with-FP32-accumulate at half rate.
    """

    name: str
    vendor: str  # "NVIDIA" | "AMD" | "Intel" | "Apple"
    architecture: str  # e.g. "Kepler", "Ampere", "CDNA 2.0"
    compute_capability: str | None  # "3.0"; None for non-NVIDIA
    gfx_target: str | None = None  # AMD LLVM target, e.g. "gfx90a"
    segment: str | None = None  # "consumer" | "laptop" | "workstation" | "datacenter" | "apple"
    sms: int | None = None  # SMs (NVIDIA), CUs (AMD), Xe cores (Intel), GPU cores (Apple)
    cuda_cores: int | None = None  # FP32 lanes (shading units)
    boost_clock_mhz: float | None = None
    memory_bytes: int | None = None
    memory_type: str | None = None
    bus_width_bits: int | None = None
    bandwidth_gbs: float | None = None
    fp32_tflops: float | None = None
    fp16_tflops: float | None = None  # non-tensor FP16 (None where there is no native FP16 math)
    bf16_tflops: float | None = None  # non-tensor BF16 where known
    tensor_fp16_tflops: float | None = None  # FP16/BF16 tensor, FP32 accumulate (AMP)
    tensor_fp16_fp16acc_tflops: float | None = None  # FP16 tensor, FP16 accumulate
    tensor_bf16_tflops: float | None = None  # BF16 tensor (FP32 accumulate), None where no BF16
    tf32_tflops: float | None = None
    int8_tops: float | None = None
    fp8_tflops: float | None = None
    tensor_cores: bool = False
    bf16_support: bool = False
    tdp_w: float | None = None
    launch_date: str | None = None  # YYYY-MM-DD or YYYY-MM
    launch_price_usd: float | None = None
    board: str | None = None  # for multi-device boards: what the board is ("Tesla K80: 2 GPUs")
    devices_per_board: int = 1
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str | None = None

    @property
    def cc_tuple(self) -> tuple[int, int] | None:
        """Compute capability as (major, minor), or None for non-NVIDIA GPUs."""
        if not self.compute_capability:
            return None
        major, _, minor = self.compute_capability.partition(".")
        return int(major), int(minor or 0)

    @property
    def memory_gib(self) -> float | None:
        return None if self.memory_bytes is None else self.memory_bytes / 2**30


@dataclass(frozen=True)
class Features:
    """Hardware features that decide which kernels and precisions run (by compute capability)."""

    fp16_math: bool  # native FP16 arithmetic at a useful rate
    fp16_math_note: str | None
    tensor_cores: bool
    bf16: bool
    tf32: bool
    fp8: bool
    int8_dp4a: bool
    int8_tensor: bool
    flash_attention: bool  # PyTorch SDPA flash backend (sm80+, fp16/bf16)
    mem_efficient_attention: bool  # PyTorch SDPA memory-efficient backend (sm50+)
    math_attention: bool = True
    sources: tuple[str, ...] = field(default_factory=tuple)
    # Added for the catalog: features whose value is not known from our sources (shown as "unknown",
    # the bool above is then False), and one-line notes (e.g. why AMD attention backends are off).
    unknown: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
