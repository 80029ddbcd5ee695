"""What the installed PyTorch was built for: version, CUDA/ROCm version, compiled arch list, cuDNN.

Nothing here initialises CUDA: the arch list is read from the binary's compile flags and the cuDNN
version from the library file, so this works (and is fast) on a machine with no driver or GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TorchBuild", "collect_torch_build", "format_cudnn_version"]


@dataclass(frozen=True)
class TorchBuild:
    """The installed torch build. ``installed=False`` when torch cannot be imported (``error`` says why)."""

    installed: bool
    version: str | None = None  # "2.14.1+cu130"
    cuda: str | None = None  # torch.version.cuda, "13.0"; None for CPU-only and ROCm builds
    hip: str | None = None  # torch.version.hip for ROCm builds
    arch_list: tuple[str, ...] = ()  # ("sm_75", "sm_80", ..., "compute_90")
    cudnn: str | None = None  # "9.12.0"; None when cuDNN is absent or cannot be loaded
    error: str | None = None

    @property
    def is_cuda_build(self) -> bool:
        return self.installed and self.cuda is not None

    @property
    def cuda_tag(self) -> str | None:
        """Wheel tag of the CUDA variant: "13.0" -> "cu130"."""
        if not self.cuda:
            return None
        major, _, minor = self.cuda.partition(".")
        return f"cu{major}{minor.split('.')[0] or '0'}"


def format_cudnn_version(v: int) -> str:
    """cuDNN integer version -> "major.minor.patch".

    cuDNN 9 encodes major*10000 + minor*100 + patch (92400 -> 9.24.0); cuDNN 8 and older
    major*1000 + minor*100 + patch (8906 -> 8.9.6).
    """
    if v >= 90000:
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


def _arch_list(torch: Any) -> tuple[str, ...]:
    # torch._C._cuda_getArchFlags() reads the compile-time flags and needs no driver.
    # torch.cuda.get_arch_list() does the same on recent torch, but older releases returned []
    # unless torch.cuda.is_available(), i.e. always [] on a machine without a GPU.
    flags_fn = getattr(torch._C, "_cuda_getArchFlags", None)
    if callable(flags_fn):
        flags = flags_fn()
        return tuple(str(flags).split()) if flags else ()
    return tuple(torch.cuda.get_arch_list())


def collect_torch_build() -> TorchBuild:
    """Inspect the importable torch without touching the GPU. Never raises."""
    try:
        import torch
    except Exception as err:  # ImportError, or a broken install raising OSError on a missing .so
        return TorchBuild(installed=False, error=f"{type(err).__name__}: {err}")
    version = str(torch.__version__)
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    try:
        arch = _arch_list(torch) if (cuda or hip) else ()
    except Exception as err:
        return TorchBuild(True, version, cuda, hip, (), None, f"arch list unavailable: {err}")
    cudnn: str | None = None
    if cuda:
        try:
            v = torch.backends.cudnn.version()
            cudnn = None if v is None else format_cudnn_version(int(v))
        except Exception:  # libcudnn missing or unloadable: report N/A
            cudnn = None
    return TorchBuild(True, version, cuda, hip, arch, cudnn)
