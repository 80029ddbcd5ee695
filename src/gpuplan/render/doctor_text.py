"""Text rendering of a :class:`~gpuplan.system.doctor.DoctorReport` (plain for golden files, coloured
on a terminal). Reads the report only; every N/A shows the reason NVML gave when there is one."""

from __future__ import annotations

import re
import textwrap

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from gpuplan.i18n import tr
from gpuplan.render.console import fmt_bytes
from gpuplan.system.doctor import DoctorReport, Finding, GpuCheck, Level
from gpuplan.system.nvml import NvmlDevice, NvmlStatus

__all__ = ["doctor_lines", "print_doctor", "render_doctor_text"]

WIDTH = 100  # findings are wrapped here so the plain output is stable
_KEY = 15  # width of the key column
_LEVEL_STYLE = {Level.OK: "green", Level.WARN: "yellow", Level.ERROR: "bold red"}


def _level_tag(level: Level) -> str:
    return {Level.OK: tr("ok"), Level.WARN: tr("WARN"), Level.ERROR: tr("ERROR")}[level]


def _status_short(status: NvmlStatus) -> str | None:
    return {
        NvmlStatus.NO_LIBRARY: tr("not found (no NVIDIA driver installed)"),
        NvmlStatus.BINDINGS_MISSING: tr("unknown (nvidia-ml-py not installed)"),
        NvmlStatus.DRIVER_NOT_LOADED: tr("installed but not loaded"),
        NvmlStatus.NO_PERMISSION: tr("no permission"),
        NvmlStatus.DRIVER_MISMATCH: tr("kernel module / library version mismatch"),
    }.get(status)


def _ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


_TOKEN = re.compile(r"\s+|[^\s\u1100-\uffff]+|.", re.S)
_NO_LINE_START = set("，。、；：？！）》」』”’,.;:?!)")
_NO_LINE_END = set("（《「『“‘(")


def wrap(text: str, width: int, initial_indent: str, subsequent_indent: str) -> list[str]:
    """``textwrap.wrap`` for English; for text with wide (CJK) characters, wrap by terminal cells and
    allow a break between any two wide characters (never before closing punctuation)."""
    if cell_len(text + initial_indent + subsequent_indent) == len(text + initial_indent + subsequent_indent):
        return textwrap.wrap(text, width, initial_indent=initial_indent, subsequent_indent=subsequent_indent)
    lines: list[str] = []
    line, empty = initial_indent, True
    for tok in _TOKEN.findall(" ".join(text.split())):
        if tok.isspace():
            if not empty:
                line += " "
            continue
        if not empty and cell_len(line.rstrip() + tok) > width and tok[0] not in _NO_LINE_START:
            head = line.rstrip()
            carry = ""
            while head and head[-1] in _NO_LINE_END and len(head) > len(subsequent_indent) + 1:
                head, carry = head[:-1], head[-1] + carry  # an opening bracket starts the next line
            lines.append(head.rstrip())
            line, empty = subsequent_indent + carry, not carry
        line += tok
        empty = False
    if not empty:
        lines.append(line.rstrip())
    return lines

Line = tuple[str, str]  # (text, rich style; "" = default)


def _na(value: str | None, reason: str | None = None) -> str:
    if value is not None:
        return value
    return f"N/A ({tr(reason)})" if reason else "N/A"


def _row(key: str, value: str, style: str = "") -> Line:
    return (f"  {_ljust(key, _KEY)}{value}", style)


def _host_lines(r: DoctorReport) -> list[Line]:
    h = r.host
    cores = "N/A"
    if h.cpu_cores_physical is not None or h.cpu_cores_logical is not None:
        cores = tr("{n} cores ({logical} logical)",
                   n=_na(None if h.cpu_cores_physical is None else str(h.cpu_cores_physical)),
                   logical=_na(None if h.cpu_cores_logical is None else str(h.cpu_cores_logical)))
    ram = (
        "N/A"
        if h.ram_total_bytes is None
        else tr("{total} total, {available} available", total=fmt_bytes(h.ram_total_bytes),
                available=fmt_bytes(h.ram_available_bytes))
    )
    disk = (
        tr("N/A at {path}", path=h.disk_path)
        if h.disk_free_bytes is None
        else tr("{free} free of {total} at {path}", free=fmt_bytes(h.disk_free_bytes),
                total=fmt_bytes(h.disk_total_bytes), path=h.disk_path)
    )
    return [
        (tr("Host"), "bold"),
        _row(tr("OS"), f"{h.os} ({h.machine}), Python {h.python}"),
        _row("CPU", f"{_na(h.cpu_model)}, {cores}"),
        _row(tr("RAM"), ram),
        _row(tr("Free disk"), disk),
    ]


def _torch_lines(r: DoctorReport) -> list[Line]:
    t = r.torch
    if not t.installed:
        return [("PyTorch", "bold"), _row("torch", tr("not importable ({error})", error=t.error), "red")]
    if t.cuda:
        kind = f"CUDA {t.cuda}"
    elif t.hip:
        kind = f"ROCm (HIP {t.hip})"
    else:
        kind = tr("CPU-only build")
    lines = [("PyTorch", "bold"), _row("torch", f"{t.version} ({kind})")]
    if t.cuda:
        lines.append(_row("cuDNN", _na(t.cudnn)))
    if t.cuda or t.hip:
        lines.append(_row(tr("arch list"), " ".join(t.arch_list) if t.arch_list else _na(None, t.error)))
    return lines


def _driver_lines(r: DoctorReport) -> list[Line]:
    n = r.nvml
    lines: list[Line] = [(tr("NVIDIA driver"), "bold")]
    if not n.available:
        lines.append(_row(tr("status"), _status_short(n.status) or tr(n.message or n.status.value), "yellow"))
        lines.append(_row(tr("GPUs"), tr("none found")))
        return lines
    lines.append(_row(tr("driver"), _na(n.driver_version, n.unavailable.get("driver_version"))))
    lines.append(_row(tr("max CUDA"), _na(n.cuda_driver_version, n.unavailable.get("cuda_driver_version"))))
    if r.driver is not None and r.driver.required_driver:
        lines.append(_row(tr("torch needs"), tr("driver ≥ {version} (CUDA {cuda})", version=r.driver.required_driver,
                                                cuda=r.driver.build_cuda)))
    lines.append(_row(tr("GPUs"), str(len(n.devices)) if n.devices else tr("none found")))
    return lines


def _memory(d: NvmlDevice) -> str:
    if d.memory_total_bytes is None:
        return _na(None, d.unavailable.get("memory_total_bytes"))
    return tr("{used} used of {total}", used=fmt_bytes(d.memory_used_bytes), total=fmt_bytes(d.memory_total_bytes))


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
            cc += tr(", from the catalog (NVML: N/A)")
    kernels = {"yes": tr("yes"), "ptx_only": tr("PTX only (JIT)"), "no": tr("NO"), "unknown": "N/A", "n/a": "N/A"}
    return [
        (f"GPU {d.index}: {_na(d.name, d.unavailable.get('name'))}", "bold"),
        _row(tr("catalog"), catalog),
        _row(tr("compute cap."), cc),
        _row(tr("memory"), _memory(d)),
        _row(tr("torch kernels"), kernels[g.kernels.value], "bold red" if g.kernels.value == "no" else ""),
    ]


def _finding_lines(f: Finding) -> list[Line]:
    tag = _ljust(_level_tag(f.level), 6)
    indent = " " * (2 + 6 + 1)
    style = _LEVEL_STYLE[f.level]
    out = [
        (line, style if i == 0 else "")
        for i, line in enumerate(wrap(tr(f.message), WIDTH, initial_indent=f"  {tag} ", subsequent_indent=indent))
    ]
    if f.fix:
        fix = tr("fix: ")
        out += [
            (line, "")
            for line in wrap(tr(f.fix), WIDTH, initial_indent=indent + fix, subsequent_indent=indent + " " * cell_len(fix))
        ]
    return out


def doctor_lines(r: DoctorReport) -> list[Line]:
    """The report as (text, style) lines; both renderers below use these."""
    lines: list[Line] = [("gpuplan doctor", "bold"), ("", "")]
    for block in (_host_lines(r), _torch_lines(r), _driver_lines(r)):
        lines += [*block, ("", "")]
    for g in r.gpus:
        lines += [*_gpu_lines(g), ("", "")]
    lines.append((tr("Findings"), "bold"))
    for f in r.findings:
        lines += _finding_lines(f)
    n_err, n_warn, n_ok = r.count(Level.ERROR), r.count(Level.WARN), r.count(Level.OK)
    errors = tr("1 error") if n_err == 1 else tr("{n} errors", n=n_err)
    warnings = tr("1 warning") if n_warn == 1 else tr("{n} warnings", n=n_warn)
    summary = tr("Result: {errors}, {warnings}, {ok} ok.", errors=errors, warnings=warnings, ok=n_ok)
    lines += [("", ""), (summary, _LEVEL_STYLE[r.worst])]
    return lines


def render_doctor_text(r: DoctorReport) -> str:
    """Plain text (what golden files hold and what a pipe receives)."""
    return "\n".join(text.rstrip() for text, _ in doctor_lines(r)) + "\n"


def print_doctor(r: DoctorReport, console: Console) -> None:
    for text, style in doctor_lines(r):
        console.print(Text(text, style=style or ""), overflow="ignore", crop=False)
