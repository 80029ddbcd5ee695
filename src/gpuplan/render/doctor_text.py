"""Text rendering of a :class:`~gpuplan.system.doctor.DoctorReport` (plain for golden files, coloured
on a terminal). Reads the report only; every N/A shows the reason NVML gave when there is one."""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.text import Text

from gpuplan.render.console import fmt_bytes
from gpuplan.system.doctor import DoctorReport, Finding, GpuCheck, Level
from gpuplan.system.nvml import NvmlDevice, NvmlStatus

__all__ = ["doctor_lines", "print_doctor", "render_doctor_text"]

WIDTH = 100  # findings are wrapped here so the plain output is stable
_KEY = 15  # width of the key column
_LEVEL_STYLE = {Level.OK: "green", Level.WARN: "yellow", Level.ERROR: "bold red"}
_LEVEL_TAG = {Level.OK: "ok", Level.WARN: "WARN", Level.ERROR: "ERROR"}

_STATUS_SHORT = {
    NvmlStatus.NO_LIBRARY: "not found (no NVIDIA driver installed)",
    NvmlStatus.BINDINGS_MISSING: "unknown (nvidia-ml-py not installed)",
    NvmlStatus.DRIVER_NOT_LOADED: "installed but not loaded",
    NvmlStatus.NO_PERMISSION: "no permission",
    NvmlStatus.DRIVER_MISMATCH: "kernel module / library version mismatch",
}

Line = tuple[str, str]  # (text, rich style; "" = default)


def _na(value: str | None, reason: str | None = None) -> str:
    if value is not None:
        return value
    return f"N/A ({reason})" if reason else "N/A"


def _row(key: str, value: str, style: str = "") -> Line:
    return (f"  {key:<{_KEY}}{value}", style)


def _host_lines(r: DoctorReport) -> list[Line]:
    h = r.host
    cores = "N/A"
    if h.cpu_cores_physical is not None or h.cpu_cores_logical is not None:
        cores = f"{_na(None if h.cpu_cores_physical is None else str(h.cpu_cores_physical))} cores"
        cores += f" ({_na(None if h.cpu_cores_logical is None else str(h.cpu_cores_logical))} logical)"
    ram = (
        "N/A"
        if h.ram_total_bytes is None
        else f"{fmt_bytes(h.ram_total_bytes)} total, {fmt_bytes(h.ram_available_bytes)} available"
    )
    disk = (
        f"N/A at {h.disk_path}"
        if h.disk_free_bytes is None
        else f"{fmt_bytes(h.disk_free_bytes)} free of {fmt_bytes(h.disk_total_bytes)} at {h.disk_path}"
    )
    return [
        ("Host", "bold"),
        _row("OS", f"{h.os} ({h.machine}), Python {h.python}"),
        _row("CPU", f"{_na(h.cpu_model)}, {cores}"),
        _row("RAM", ram),
        _row("Free disk", disk),
    ]


def _torch_lines(r: DoctorReport) -> list[Line]:
    t = r.torch
    if not t.installed:
        return [("PyTorch", "bold"), _row("torch", f"not importable ({t.error})", "red")]
    if t.cuda:
        kind = f"CUDA {t.cuda}"
    elif t.hip:
        kind = f"ROCm (HIP {t.hip})"
    else:
        kind = "CPU-only build"
    lines = [("PyTorch", "bold"), _row("torch", f"{t.version} ({kind})")]
    if t.cuda:
        lines.append(_row("cuDNN", _na(t.cudnn)))
    if t.cuda or t.hip:
        lines.append(_row("arch list", " ".join(t.arch_list) if t.arch_list else _na(None, t.error)))
    return lines


def _driver_lines(r: DoctorReport) -> list[Line]:
    n = r.nvml
    lines: list[Line] = [("NVIDIA driver", "bold")]
    if not n.available:
        lines.append(_row("status", _STATUS_SHORT.get(n.status, n.message or n.status.value), "yellow"))
        lines.append(_row("GPUs", "none found"))
        return lines
    lines.append(_row("driver", _na(n.driver_version, n.unavailable.get("driver_version"))))
    lines.append(_row("max CUDA", _na(n.cuda_driver_version, n.unavailable.get("cuda_driver_version"))))
    if r.driver is not None and r.driver.required_driver:
        lines.append(_row("torch needs", f"driver ≥ {r.driver.required_driver} (CUDA {r.driver.build_cuda})"))
    lines.append(_row("GPUs", str(len(n.devices)) if n.devices else "none found"))
    return lines


def _memory(d: NvmlDevice) -> str:
    if d.memory_total_bytes is None:
        return _na(None, d.unavailable.get("memory_total_bytes"))
    return f"{fmt_bytes(d.memory_used_bytes)} used of {fmt_bytes(d.memory_total_bytes)}"


def _gpu_lines(g: GpuCheck) -> list[Line]:
    d = g.device
    c = g.catalog
    catalog = _na(None, c.note)
    if c.name is not None:
        catalog = c.name + (f" ({c.architecture})" if c.architecture else "")
    if g.compute_capability is None:
        cc = _na(None, d.unavailable.get("compute_capability"))
    else:
        cc = "{}.{}".format(*g.compute_capability) + f" ({g.sm})"
        if g.cc_source == "catalog":
            cc += ", from the catalog (NVML: N/A)"
    kernels = {"yes": "yes", "ptx_only": "PTX only (JIT)", "no": "NO", "unknown": "N/A", "n/a": "N/A"}
    return [
        (f"GPU {d.index}: {_na(d.name, d.unavailable.get('name'))}", "bold"),
        _row("catalog", catalog),
        _row("compute cap.", cc),
        _row("memory", _memory(d)),
        _row("torch kernels", kernels[g.kernels.value], "bold red" if g.kernels.value == "no" else ""),
    ]


def _finding_lines(f: Finding) -> list[Line]:
    tag = f"{_LEVEL_TAG[f.level]:<6}"
    indent = " " * (2 + 6 + 1)
    style = _LEVEL_STYLE[f.level]
    out = [
        (line, style if i == 0 else "")
        for i, line in enumerate(
            textwrap.wrap(f.message, WIDTH, initial_indent=f"  {tag} ", subsequent_indent=indent)
        )
    ]
    if f.fix:
        out += [
            (line, "")
            for line in textwrap.wrap(
                f.fix, WIDTH, initial_indent=indent + "fix: ", subsequent_indent=indent + "     "
            )
        ]
    return out


def doctor_lines(r: DoctorReport) -> list[Line]:
    """The report as (text, style) lines; both renderers below use these."""
    lines: list[Line] = [("gpuplan doctor", "bold"), ("", "")]
    for block in (_host_lines(r), _torch_lines(r), _driver_lines(r)):
        lines += [*block, ("", "")]
    for g in r.gpus:
        lines += [*_gpu_lines(g), ("", "")]
    lines.append(("Findings", "bold"))
    for f in r.findings:
        lines += _finding_lines(f)
    n_err, n_warn, n_ok = r.count(Level.ERROR), r.count(Level.WARN), r.count(Level.OK)
    summary = f"Result: {n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}, {n_ok} ok."
    lines += [("", ""), (summary, _LEVEL_STYLE[r.worst])]
    return lines


def render_doctor_text(r: DoctorReport) -> str:
    """Plain text (what golden files hold and what a pipe receives)."""
    return "\n".join(text.rstrip() for text, _ in doctor_lines(r)) + "\n"


def print_doctor(r: DoctorReport, console: Console) -> None:
    for text, style in doctor_lines(r):
        console.print(Text(text, style=style or ""), overflow="ignore", crop=False)
