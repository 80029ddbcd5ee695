"""Human rendering of GPU reports (`gpuplan gpu`) and GPU lists (`gpuplan gpus`).

One builder produces sections of (label, value) rows; two printers show them: plain text when piped
(stable, used by the golden tests) and rich tables on a terminal. Unknown values print as N/A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from gpuplan.catalog.compat import CompatReport, version_key
from gpuplan.catalog.types import GPU, Features
from gpuplan.render.console import fmt_bytes, fmt_num

NA = "N/A"


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[tuple[str, str], ...]


def _yes(flag: bool, unknown: bool = False) -> str:
    return "unknown" if unknown else ("yes" if flag else "no")


def _tflops(x: float | None, unit: str = "TFLOPS") -> str:
    return NA if x is None else f"{x:,.2f} {unit}".replace(".00 ", " ")


def title_line(gpu: GPU) -> str:
    target = (f"compute capability {gpu.compute_capability}" if gpu.compute_capability
              else f"{gpu.gfx_target}" if gpu.gfx_target else "no CUDA compute capability")
    return f"{gpu.name} - {gpu.vendor} {gpu.architecture}, {target} ({gpu.segment or 'unknown segment'})"


def spec_section(gpu: GPU) -> Section:
    mem = [fmt_bytes(gpu.memory_bytes)]
    if gpu.memory_type:
        mem.append(gpu.memory_type)
    if gpu.bus_width_bits:
        mem.append(f"{gpu.bus_width_bits}-bit")
    mem.append(NA if gpu.bandwidth_gbs is None else f"{fmt_num(gpu.bandwidth_gbs, 1)} GB/s")
    unit = {"NVIDIA": "SMs", "AMD": "CUs", "Intel": "Xe cores", "Apple": "GPU cores"}.get(gpu.vendor, "units")
    units = [f"{gpu.sms} {unit}" if gpu.sms else f"{unit}: {NA}",
             f"{gpu.cuda_cores} FP32 lanes" if gpu.cuda_cores else f"FP32 lanes: {NA}",
             f"boost {fmt_num(gpu.boost_clock_mhz, 0)} MHz" if gpu.boost_clock_mhz else f"boost: {NA}"]
    rows = [
        ("Memory", ", ".join(mem)),
        ("Compute units", ", ".join(units)),
        ("FP32", _tflops(gpu.fp32_tflops)),
        ("FP16 (non-tensor)", _tflops(gpu.fp16_tflops)),
        ("Tensor FP16, FP32 acc", _tflops(gpu.tensor_fp16_tflops)),
        ("Tensor FP16, FP16 acc", _tflops(gpu.tensor_fp16_fp16acc_tflops)),
        ("Tensor BF16", _tflops(gpu.tensor_bf16_tflops)),
        ("TF32 / FP8 / INT8", " / ".join([_tflops(gpu.tf32_tflops), _tflops(gpu.fp8_tflops),
                                          _tflops(gpu.int8_tops, "TOPS")])),
        ("TDP", NA if gpu.tdp_w is None else f"{fmt_num(gpu.tdp_w, 0)} W"),
        ("Launch", f"{gpu.launch_date or NA}, "
                   + (NA if gpu.launch_price_usd is None else f"${fmt_num(gpu.launch_price_usd, 0)}")),
    ]
    if gpu.board:
        rows.append(("Board", f"{gpu.board}; this entry is one of {gpu.devices_per_board} devices"))
    return Section("Specs (dense rates)", tuple(rows))


def feature_section(f: Features) -> Section:
    u = set(f.unknown)
    fp16 = _yes(f.fp16_math, "fp16_math" in u) + (f" ({f.fp16_math_note})" if f.fp16_math_note else "")
    rows = [
        ("FP16 math", fp16),
        ("Tensor cores", _yes(f.tensor_cores, "tensor_cores" in u)),
        ("BF16 / TF32 / FP8", " / ".join(_yes(getattr(f, k), k in u) for k in ("bf16", "tf32", "fp8"))),
        ("INT8", f"dp4a {_yes(f.int8_dp4a)}, tensor {_yes(f.int8_tensor, 'int8_tensor' in u)}"),
        ("Attention (SDPA)", f"flash {_yes(f.flash_attention)}, memory-efficient {_yes(f.mem_efficient_attention)}, "
                             f"math {_yes(f.math_attention)}"),
    ]
    rows += [("Note", n) for n in f.notes]
    return Section("Features", tuple(rows))


def _variant_summary(c: CompatReport) -> str:
    parts = []
    vs = [v for v in c.pytorch_official.variants if v.platform == "linux-x86_64-pip"]
    for v in sorted(vs, key=lambda v: version_key(v.cuda)):
        tag = "cu" + "".join(str(p) for p in version_key(v.cuda)[:2])
        end = v.last or "current"
        parts.append(f"{tag} {v.first}" + ("" if v.first == end else f"-{end}") + (" (PTX JIT)" if v.ptx_only else ""))
    return ", ".join(parts) or "none"


def compat_section(gpu: GPU, c: CompatReport) -> Section:
    rows: list[tuple[str, str]] = []
    tk = c.cuda_toolkit
    if gpu.cc_tuple is not None:
        rng = f"{tk.min} to {tk.max or 'current (13.x)'}"
        if tk.last_driver_branch:
            rng += f"; last driver branch {tk.last_driver_branch}"
        rows.append(("CUDA toolkit", rng))
        if tk.toolkits:
            t = tk.toolkits[-1]
            win = (f"Windows >= {t.min_driver_windows}" if t.min_driver_windows
                   else "Windows: not in the table (not bundled from CUDA 13.1)")
            rows.append((f"Driver for CUDA {t.version}", f"Linux >= {t.min_driver_linux or NA}, {win}"))
        pt = c.pytorch_official
        rows.append(("PyTorch official", f"first {pt.first or NA}, last {pt.last or 'current'}"))
        rows.append(("PyTorch Linux wheels", _variant_summary(c)))
        if tk.max is not None:
            rows.append(("PyTorch source build", f"<= {pt.newest_source_build or NA} ({pt.source_build_note})"))
        rows += [("Note", n) for n in pt.notes]
    tf = c.tensorflow
    if tf.supported or tf.last:
        tf_text = f"official {tf.first or '?'} to {'current' if tf.supported else tf.last}"
        tf_text += f"; {tf.note}" if tf.note else ""
    else:
        tf_text = tf.note or "no official binary"
    rows.append(("TensorFlow", tf_text))
    jx = c.jax
    if jx.supported:
        jax_text = f"supported: {jx.install}" + (f"; {jx.note}" if jx.note else "")
    elif jx.install:
        jax_text = f"{jx.install}" + (f" ({jx.note})" if jx.note else "")
    else:
        jax_text = jx.note or "no official wheels"
    rows.append(("JAX", jax_text))
    if c.rocm.applicable:
        rows.append(("ROCm (Linux)", c.rocm.linux or NA))
        if c.rocm.windows:
            rows.append(("ROCm (Windows)", c.rocm.windows))
        rows.append(("PyTorch ROCm", c.rocm.pytorch_rocm or NA))
    if c.mps.applicable:
        rows.append(("PyTorch MPS", f"from {c.mps.first_pytorch}, {c.mps.requirement}; {c.mps.note}"))
    return Section("Compatibility", tuple(rows))


def install_section(c: CompatReport) -> Section:
    rows = [("Command", c.install.command or "none (see options)"), ("Why", c.install.explanation)]
    rows += [("Option", o) for o in c.install.options]
    return Section("Install", tuple(rows))


def local_section(gpu: GPU, c: CompatReport) -> Section | None:
    lt = c.local_torch
    if lt is None:
        return None
    if not lt.available:
        return Section("Local torch", (("torch", lt.note or "not installed"),))
    build = f"{lt.version}" + (f", CUDA {lt.cuda}" if lt.cuda else "") + (f", HIP {lt.hip}" if lt.hip else "")
    verdict = {True: "yes", False: "no", None: "unknown"}[lt.supports_gpu]
    rows = [("Build", build), ("Arch list", " ".join(lt.arch_list) or NA),
            (f"Kernels for {gpu.name}", verdict + (f" ({lt.note})" if lt.note else ""))]
    return Section("Local torch", tuple(rows))


def gpu_sections(gpu: GPU, feats: Features, compat: CompatReport, verdict: Sequence[str]) -> list[Section]:
    sections = [Section("Verdict", tuple(("", v) for v in verdict)), spec_section(gpu), feature_section(feats),
                compat_section(gpu, compat), install_section(compat)]
    local = local_section(gpu, compat)
    if local:
        sections.append(local)
    src = [("Specs", "; ".join(gpu.sources))]
    if gpu.notes:
        src.append(("Notes", gpu.notes))
    if compat.sources:
        src.append(("Compatibility", ", ".join(compat.sources)))
    sections.append(Section("Sources", tuple(src)))
    return sections


def render_sections_plain(title: str, sections: Sequence[Section]) -> str:
    lines = [title, ""]
    for s in sections:
        lines.append(s.title)
        width = max((len(label) for label, _ in s.rows), default=0)
        for label, value in s.rows:
            lines.append(f"  {label.ljust(width)}  {value}".rstrip() if label else f"  {value}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def print_sections(console: Console, title: str, sections: Sequence[Section]) -> None:
    """Rich tables on a terminal, the plain text otherwise."""
    if not console.is_terminal:
        console.file.write(render_sections_plain(title, sections))
        return
    console.print(f"[bold]{title}[/bold]")
    for s in sections:
        table = Table(title=s.title, title_justify="left", show_header=False, expand=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in s.rows:
            table.add_row(label, value)
        console.print(table)


# ----------------------------------------------------------------------------------------------- lists
LIST_COLUMNS = ("Name", "Vendor", "Architecture", "CC/gfx", "Memory", "GB/s", "FP32", "Tensor FP16*", "TDP W",
                "Launch")


def gpu_list_row(gpu: GPU) -> list[str]:
    return [
        gpu.name, gpu.vendor, gpu.architecture, gpu.compute_capability or gpu.gfx_target or "-",
        NA if gpu.memory_bytes is None else f"{gpu.memory_bytes / 2**30:g} GiB",
        fmt_num(gpu.bandwidth_gbs, 0), fmt_num(gpu.fp32_tflops, 1), fmt_num(gpu.tensor_fp16_tflops, 1),
        fmt_num(gpu.tdp_w, 0), gpu.launch_date or NA,
    ]


LIST_FOOTNOTE = "* dense FP16/BF16 tensor TFLOPS with FP32 accumulate (what mixed-precision training uses)."


def render_gpu_list_plain(gpus: Sequence[GPU]) -> str:
    rows = [list(LIST_COLUMNS)] + [gpu_list_row(g) for g in gpus]
    widths = [max(len(r[i]) for r in rows) for i in range(len(LIST_COLUMNS))]
    numeric = {4, 5, 6, 7, 8}
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    out.append("")
    out.append(f"{len(gpus)} GPUs. {LIST_FOOTNOTE}")
    return "\n".join(out) + "\n"


def print_gpu_list(console: Console, gpus: Sequence[GPU]) -> None:
    if not console.is_terminal:
        console.file.write(render_gpu_list_plain(gpus))
        return
    table = Table(show_lines=False)
    for i, col in enumerate(LIST_COLUMNS):
        table.add_column(col, justify="right" if i in {4, 5, 6, 7, 8} else "left", no_wrap=i > 2)
    for g in gpus:
        table.add_row(*gpu_list_row(g))
    console.print(table)
    console.print(f"{len(gpus)} GPUs. {LIST_FOOTNOTE}")
