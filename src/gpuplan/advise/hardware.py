"""Which memory/speed techniques a GPU can run, and whether they run fast there.

Rules use the catalog's sourced features (``gpuplan.catalog.features``) and, for bitsandbytes (8-bit
Adam, LLM.int8(), 4-bit/QLoRA), the library's own hardware table in ``data/libraries.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gpuplan.catalog import GPU, features
from gpuplan.i18n import msg
from gpuplan.workload.spec import Precision


def fast_fp16(gpu: GPU) -> bool:
    """True when FP16 math runs faster than FP32: tensor cores, or a native FP16 rate above the FP32 rate.

    Kepler/Maxwell GeForce (no FP16 math) and CC 6.1 Pascal (FP16 at 1/64 rate) are False: there mixed
    precision saves memory but runs no faster (compat.md §2.7 via ``features``; rates from the catalog).
    """
    f = features(gpu)
    if not f.fp16_math:
        return False
    if f.tensor_cores:
        return True
    return bool(gpu.fp16_tflops and gpu.fp32_tflops and gpu.fp16_tflops > gpu.fp32_tflops)


def amp_precision(gpu: GPU) -> tuple[Precision, bool]:
    """The mixed precision to offer for training on ``gpu`` and whether it is expected to be faster.

    bf16 where the hardware has it (same range as fp32, no loss scaling); else fp16 with GradScaler.
    On GPUs without fast FP16 the answer is fp16 with ``False``: it only saves activation memory.
    """
    if features(gpu).bf16:
        return Precision.AMP_BF16, True
    return Precision.AMP_FP16, fast_fp16(gpu)


def half_precision(gpu: GPU) -> tuple[Precision, bool]:
    """The 16-bit inference precision (``model.half()`` / ``.to(bfloat16)``) and whether it is faster."""
    if fast_fp16(gpu):
        return Precision.FP16, True
    if features(gpu).bf16:
        return Precision.BF16, True
    return Precision.FP16, False


@dataclass(frozen=True)
class LibrarySupport:
    """Whether a library's GPU kernels support a card: True, False, or None (unknown), with the reason."""

    supported: bool | None
    note: str
    source: str | None
    recommended: bool | None = None


@cache
def _library_rows() -> tuple[dict[str, str], ...]:
    text = resources.files("gpuplan.advise").joinpath("data/libraries.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines()))


def bitsandbytes_support(gpu: GPU, feature: str = "optim_8bit") -> LibrarySupport:
    """bitsandbytes on ``gpu`` for ``feature`` ("optim_8bit" | "int8_inference" | "four_bit")."""
    rows = [r for r in _library_rows() if r["library"] == "bitsandbytes" and r["vendor"] == gpu.vendor]
    if not rows:
        return LibrarySupport(None, msg("bitsandbytes' hardware table does not list {vendor} GPUs", vendor=gpu.vendor),
                              None)
    r = rows[0]
    src = r["source"]
    if r[feature] != "yes":
        return LibrarySupport(False, msg("bitsandbytes: not supported on {vendor} GPUs ({note})", vendor=gpu.vendor,
                                         note=r["note"]), src)
    if gpu.vendor == "NVIDIA":
        cc = gpu.cc_tuple
        if cc is None:
            return LibrarySupport(None, msg("compute capability unknown; bitsandbytes needs {what}", what=r["note"]),
                                  src)
        need = tuple(int(x) for x in r["min_cc"].split("."))
        rec = tuple(int(x) for x in r["recommended_cc"].split("."))
        if cc < need:
            return LibrarySupport(False, msg("bitsandbytes needs compute capability {need}+ (this GPU: {cc})",
                                             need=r["min_cc"], cc=gpu.compute_capability), src)
        return LibrarySupport(True, msg("bitsandbytes supports compute capability {need}+ ({rec}+ recommended)",
                                        need=r["min_cc"], rec=r["recommended_cc"]), src, recommended=cc >= rec)
    if gpu.vendor == "AMD":
        targets = [t for t in r["gfx_targets"].split(";") if t]
        gfx = gpu.gfx_target or ""
        if not gfx:
            return LibrarySupport(None, msg("gfx target unknown; bitsandbytes lists {targets}",
                                            targets=", ".join(targets)), src)
        ok = any(gfx.startswith(t) for t in targets)
        return LibrarySupport(ok, msg("bitsandbytes on ROCm lists {targets} (this GPU: {gfx})",
                                      targets=", ".join(targets), gfx=gfx), src)
    return LibrarySupport(True, r["note"], src)
