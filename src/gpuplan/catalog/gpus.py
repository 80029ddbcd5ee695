"""The GPU catalog: one :class:`GPU` per device as PyTorch sees it, loaded from ``data/gpus.csv``.

Every row carries its sources (``source`` column, keys defined in ``data/sources.csv``). Empty cells are
unknown and become ``None``; nothing is filled in by guesswork. Memory is stored in the data file as the
marketed capacity in GiB (GDDR/HBM capacities are binary: "24 GB" = 24 GiB, see shared data/compat.md
Part 1) and exposed as bytes.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache

from gpuplan.catalog._data import read_csv, source_keys, split_list
from gpuplan.catalog.types import GPU

_FLOAT_FIELDS = {
    "boost_clock_mhz", "bandwidth_gbs", "fp32_tflops", "fp16_tflops", "bf16_tflops", "tensor_fp16_tflops",
    "tensor_fp16_fp16acc_tflops", "tensor_bf16_tflops", "tf32_tflops", "int8_tops", "fp8_tflops", "tdp_w",
    "launch_price_usd",
}
_INT_FIELDS = {"sms", "cuda_cores", "bus_width_bits", "devices_per_board"}
_BOOL_FIELDS = {"tensor_cores", "bf16_support"}
_STR_FIELDS = {
    "name", "vendor", "architecture", "compute_capability", "gfx_target", "segment", "memory_type",
    "launch_date", "board", "notes",
}

GiB = 2**30


def memory_bytes_from_gib(gib: float) -> int:
    """Marketed capacity in GiB -> bytes (GDDR/HBM capacities are binary; compat.md Part 1)."""
    return round(gib * GiB)


def _parse_bool(text: str) -> bool:
    return text.lower() in {"yes", "true", "1", "y"}


def gpu_from_row(row: dict[str, str]) -> GPU:
    """Build a GPU record from one ``gpus.csv`` row (strings; empty = unknown)."""
    kw: dict[str, object] = {}
    for f in fields(GPU):
        raw = row.get(f.name, "")
        if f.name in _FLOAT_FIELDS:
            kw[f.name] = float(raw) if raw else None
        elif f.name in _INT_FIELDS:
            if raw:
                kw[f.name] = int(raw)
        elif f.name in _BOOL_FIELDS:
            kw[f.name] = _parse_bool(raw)
        elif f.name in _STR_FIELDS and (raw or f.name == "compute_capability"):
            kw[f.name] = raw or None
    gib = row.get("memory_gib", "")
    kw["memory_bytes"] = memory_bytes_from_gib(float(gib)) if gib else None
    kw["aliases"] = split_list(row.get("aliases", ""))
    kw["sources"] = source_keys(row.get("source", ""))
    return GPU(**kw)  # type: ignore[arg-type]


@cache
def load_catalog() -> tuple[GPU, ...]:
    """All GPUs of the catalog, in data-file order (cached)."""
    return tuple(gpu_from_row(r) for r in read_csv("gpus.csv"))


def catalog_sources() -> dict[str, str]:
    """Source key -> what it is (``data/sources.csv``)."""
    return {r["key"]: r["what"] for r in read_csv("sources.csv")}
