"""Does a CUDA binary built for an arch list run on a GPU of a given compute capability?

Rule (NVIDIA CUDA compatibility guides, as summarised in shared data/compat.md §2.1 [CUDA-COMPAT],
[EESSI-210]): a cubin built for ``sm_XY`` runs only on GPUs of the same major version X with minor
>= Y; PTX for ``compute_AB`` (``A.B+PTX``) is JIT-compiled by the driver for any GPU with CC >= A.B;
architecture-specific targets (``sm_90a``, ``sm_100a``) run only on exactly that CC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENTRY = re.compile(r"^(?:sm_|compute_)?(\d+)\.?(\d*?)([af]?)(\+ptx)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ArchEntry:
    major: int
    minor: int
    ptx: bool = False
    suffix: str = ""  # "a" (arch-specific) or "f" (family)


def _split_cc(digits: str, minor: str) -> tuple[int, int]:
    if minor:
        return int(digits), int(minor)
    # "sm_86" -> (8, 6); "sm_100" -> (10, 0); "sm_120" -> (12, 0)
    return int(digits[:-1]), int(digits[-1])


def parse_arch_list(text: str | list[str]) -> list[ArchEntry]:
    """Parse ``"3.5;5.0+PTX;6.0"`` (TORCH_CUDA_ARCH_LIST) or ``["sm_50", "compute_90"]``
    (``torch.cuda.get_arch_list()``) into entries."""
    items = text if isinstance(text, list) else re.split(r"[;,\s]+", text.strip())
    out: list[ArchEntry] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        is_compute = item.lower().startswith("compute_")
        m = _ENTRY.match(item)
        if not m:
            raise ValueError(f"not an arch-list entry: {raw!r}")
        digits, minor, suffix, ptx = m.groups()
        major, mnr = _split_cc(digits, minor)
        out.append(ArchEntry(major, mnr, ptx=bool(ptx) or is_compute, suffix=suffix.lower()))
        if ptx and not is_compute:
            # "5.2+PTX" means SASS for sm_52 *and* PTX for compute_52
            out.append(ArchEntry(major, mnr, ptx=False, suffix=suffix.lower()))
    return out


def binary_supports(arch_list: str | list[str], cc: tuple[int, int]) -> bool:
    """True when a binary with this arch list has kernels that run on a GPU of compute capability ``cc``."""
    major, minor = cc
    for e in parse_arch_list(arch_list):
        if e.suffix == "a":
            if (e.major, e.minor) == (major, minor):
                return True
            continue
        if e.ptx and (e.major, e.minor) <= (major, minor):
            return True
        if not e.ptx and e.major == major and e.minor <= minor:
            return True
    return False
