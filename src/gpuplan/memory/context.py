"""Memory the card holds outside the caching allocator's tensors: CUDA context and cuBLAS workspaces.

The context depends on the PyTorch/CUDA build that runs on the card (lazy kernel loading since
CUDA 11.7 and PyTorch 1.13) — for a catalog GPU we assume the newest official PyTorch build that
has kernels for it (an assumption stated in every result). Sizes with sources: data/context.csv.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gpuplan.catalog.types import GPU

_DATA = Path(__file__).parent / "data" / "context.csv"

# cuBLAS workspace per handle and stream (aten/src/ATen/cuda/CublasHandlePool.cpp,
# parseChosenWorkspaceSize): default ":4096:2:16:8" = 4096 KiB x 2 + 16 KiB x 8; Hopper and
# Blackwell (CC major 9, 10, 12) use 4096 KiB x 8 = 32 MiB; ROCm 32 MiB. Allocated through the
# caching allocator on first use, once per (thread handle, stream): the autograd backward thread
# has its own handle, so training holds two.
CUBLAS_WORKSPACE_DEFAULT = 4096 * 1024 * 2 + 16 * 1024 * 8
CUBLAS_WORKSPACE_LARGE = 4096 * 1024 * 8

# Part of the card the driver keeps for itself: what torch.cuda.get_device_properties().total_memory
# reports is 1-2% below the marketed size on the cards we know of (an assumption, not a sourced
# per-card fact), and a desktop GPU driving a display loses more. We take 1.5% and a headless card.
DRIVER_RESERVE_FRACTION = 0.015


@dataclass(frozen=True)
class ContextModel:
    loading: str
    context_bytes: int
    source: str
    note: str


@cache
def _table() -> dict[str, ContextModel]:
    with _DATA.open() as f:
        return {r["loading"]: ContextModel(r["loading"], int(r["context_mib"]) << 20, r["source"], r["note"])
                for r in csv.DictReader(f)}


def context_for(gpu: GPU, loading: str | None = None) -> ContextModel:
    """CUDA context of the newest PyTorch build that runs on ``gpu`` (or the named loading mode)."""
    if loading is None:
        cc = gpu.cc_tuple
        # sm_30 (last wheel 0.3.0) and sm_35 (last wheel 1.3.0) only run old eager-loading builds
        loading = "eager" if cc is not None and cc < (3, 7) else "lazy"
    return _table()[loading]


def cublas_workspace_bytes(gpu: GPU) -> int:
    cc = gpu.cc_tuple
    if gpu.vendor == "AMD":
        return CUBLAS_WORKSPACE_LARGE
    if cc is not None and cc[0] in (9, 10, 12):
        return CUBLAS_WORKSPACE_LARGE
    return CUBLAS_WORKSPACE_DEFAULT


def usable_capacity(gpu: GPU) -> int | None:
    """Bytes of the card a process can use (marketed size less the driver's reserve)."""
    if gpu.memory_bytes is None:
        return None
    return int(gpu.memory_bytes * (1.0 - DRIVER_RESERVE_FRACTION))
