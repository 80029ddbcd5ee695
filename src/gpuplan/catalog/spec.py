"""Custom GPUs: cards that are not in the catalog, described in a YAML/JSON file or inline.

File (YAML or JSON), every field optional except ``name`` and a memory size::

    name: My RTX 3090 (power-limited)
    base: GeForce RTX 3090        # start from a catalog GPU and override fields
    memory_gib: 24                # or memory_gb (decimal GB) or memory_bytes
    boost_clock_mhz: 1400
    fp32_tflops: 29.4
    bandwidth_gbs: 936
    compute_capability: "8.6"

Inline (``--gpu-spec``): ``"name=My card,memory_gib=24,fp32_tflops=30,bandwidth_gbs=900,compute_capability=8.6"``.
Field names and units are those of :class:`~gpuplan.catalog.types.GPU`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import yaml

from gpuplan.catalog.gpus import memory_bytes_from_gib
from gpuplan.catalog.types import GPU
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, msg_join

_GPU_FIELDS = {f.name: f for f in dataclasses.fields(GPU)}
_EXTRA_KEYS = {"base", "memory_gib", "memory_gb", "source"}
_VENDORS = {"NVIDIA", "AMD", "Intel", "Apple", "other"}
_NUMBER_FIELDS = {
    "sms", "cuda_cores", "boost_clock_mhz", "memory_bytes", "bus_width_bits", "bandwidth_gbs", "fp32_tflops",
    "fp16_tflops", "bf16_tflops", "tensor_fp16_tflops", "tensor_fp16_fp16acc_tflops", "tensor_bf16_tflops",
    "tf32_tflops", "int8_tops", "fp8_tflops", "tdp_w", "launch_price_usd", "devices_per_board",
}
_INT_FIELDS = {"sms", "cuda_cores", "memory_bytes", "bus_width_bits", "devices_per_board"}
_CC = re.compile(r"^\d{1,2}\.\d$")


def _as_number(key: str, value: Any, problems: list[str]) -> float | int | None:
    if value is None or value == "":
        return None
    try:
        num = float(value)
    except (TypeError, ValueError):
        problems.append(msg("{key}: not a number ({value})", key=key, value=repr(value)))
        return None
    if num < 0 or num != num:
        problems.append(msg("{key}: must be >= 0 (got {value})", key=key, value=repr(value)))
        return None
    return int(num) if key in _INT_FIELDS else num


def _as_bool(key: str, value: Any, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"yes", "true", "1", "y"}:
        return True
    if text in {"no", "false", "0", "n"}:
        return False
    problems.append(msg("{key}: not a yes/no value ({value})", key=key, value=repr(value)))
    return False


def gpu_from_mapping(data: dict[str, Any], *, origin: str = "custom spec") -> GPU:
    """Validate a mapping of GPU fields and build a :class:`GPU`.

    Raises :class:`~gpuplan.errors.UsageError` naming every bad, unknown or missing field.
    """
    if not isinstance(data, dict):
        raise UsageError(msg("{origin}: expected a mapping of GPU fields, got {type}", origin=origin,
                             type=type(data).__name__))
    problems: list[str] = []
    unknown = sorted(k for k in data if k not in _GPU_FIELDS and k not in _EXTRA_KEYS)
    if unknown:
        problems.append(msg("unknown field(s): {names}", names=", ".join(unknown)))
    base: dict[str, Any] = {}
    if data.get("base"):
        from gpuplan.catalog.lookup import get_gpu

        base = dataclasses.asdict(get_gpu(str(data["base"])))
        base["aliases"] = ()
    kw: dict[str, Any] = dict(base)
    for key, value in data.items():
        if key in {"base", "source"} or (key not in _GPU_FIELDS and key not in {"memory_gib", "memory_gb"}):
            continue
        if key == "memory_gib":
            num = _as_number(key, value, problems)
            kw["memory_bytes"] = None if num is None else memory_bytes_from_gib(num)
        elif key == "memory_gb":
            num = _as_number(key, value, problems)
            kw["memory_bytes"] = None if num is None else round(num * 1e9)
        elif key in _NUMBER_FIELDS:
            kw[key] = _as_number(key, value, problems)
        elif key in {"tensor_cores", "bf16_support"}:
            kw[key] = _as_bool(key, value, problems)
        elif key in {"aliases", "sources"}:
            kw[key] = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
        else:
            kw[key] = None if value is None else str(value)
    if not kw.get("name"):
        problems.append(msg("missing field: {name}", name="name"))
    if kw.get("memory_bytes") is None:
        problems.append(msg("missing field: {name}", name="memory_gib (or memory_gb / memory_bytes)"))
    vendor = kw.get("vendor") or ("NVIDIA" if kw.get("compute_capability") else "other")
    if vendor not in _VENDORS:
        problems.append(msg("vendor: must be one of {allowed} (got {value})", allowed=", ".join(sorted(_VENDORS)),
                            value=repr(vendor)))
    kw["vendor"] = vendor
    cc = kw.get("compute_capability")
    if cc is not None and not _CC.match(str(cc)):
        problems.append(msg("compute_capability: expected MAJOR.MINOR such as \"8.6\" (got {value})", value=repr(cc)))
    if cc is not None and vendor != "NVIDIA":
        problems.append(msg("compute_capability: only NVIDIA GPUs have one (use gfx_target for AMD)"))
    kw.setdefault("architecture", "unknown")
    kw["architecture"] = kw.get("architecture") or "unknown"
    kw.setdefault("compute_capability", None)
    if problems:
        raise UsageError(msg("{origin}: invalid GPU spec: {problems}", origin=origin,
                             problems=msg_join("; ", problems)),
                         hint=msg("Fields and units are those of `gpuplan gpu NAME --json`."))
    src = str(data.get("source") or origin)
    kw["sources"] = (src, *(kw.get("sources") or ())) if base else (src,)
    kw["segment"] = kw.get("segment") or "custom"
    return GPU(**kw)


def load_gpu_spec(path: str | Path) -> GPU:
    """Read a custom GPU from a ``.yaml``/``.yml``/``.json`` file."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(msg("GPU spec file not found: {path}", path=str(p)))
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise UsageError(msg("{path}: cannot parse GPU spec: {error}", path=str(p), error=str(err))) from err
    return gpu_from_mapping(data, origin=f"custom spec {p.name}")


def parse_inline_spec(text: str) -> GPU:
    """``"name=My card,memory_gib=24,fp32_tflops=30"`` -> GPU (fields separated by ``,`` or ``;``)."""
    data: dict[str, Any] = {}
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(msg("inline GPU spec: expected key=value, got {part}", part=repr(part.strip())))
        data[key.strip()] = value.strip()
    return gpu_from_mapping(data, origin="inline GPU spec")


def parse_gpu_spec(text: str) -> GPU:
    """A spec file path or an inline ``key=value,...`` spec."""
    if text.strip().lower().endswith((".yaml", ".yml", ".json")):
        return load_gpu_spec(text.strip())
    return parse_inline_spec(text)
