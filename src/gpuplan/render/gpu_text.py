"""Human rendering of GPU reports (`gpuplan gpu`) and GPU lists (`gpuplan gpus`).

One builder produces sections of (label, value) rows; two printers show them: plain text when piped
(stable, used by the golden tests) and rich tables on a terminal. Unknown values print as N/A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from gpuplan.catalog.compat import CompatReport, version_key
from gpuplan.catalog.types import GPU, Features
from gpuplan.i18n import tr
from gpuplan.render.console import fmt_bytes, fmt_num

NA = "N/A"


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[tuple[str, str], ...]


def _yes(flag: bool, unknown: bool = False) -> str:
    return tr("unknown") if unknown else (tr("yes") if flag else tr("no"))


def _ljust(text: str, width: int) -> str:
    """Pad to ``width`` terminal cells (a Chinese character takes two)."""
    return text + " " * max(0, width - cell_len(text))


def _rjust(text: str, width: int) -> str:
    return " " * max(0, width - cell_len(text)) + text


def _tflops(x: float | None, unit: str = "TFLOPS") -> str:
    return NA if x is None else f"{x:,.2f} {unit}".replace(".00 ", " ")


def title_line(gpu: GPU) -> str:
    target = (tr("compute capability {cc}", cc=gpu.compute_capability) if gpu.compute_capability
              else f"{gpu.gfx_target}" if gpu.gfx_target else tr("no CUDA compute capability"))
    return tr("{name} - {vendor} {arch}, {target} ({segment})", name=gpu.name, vendor=gpu.vendor,
              arch=gpu.architecture, target=target, segment=_segment(gpu.segment))


def _segment(segment: str | None) -> str:
    return {"consumer": tr("consumer"), "laptop": tr("laptop"), "workstation": tr("workstation"),
            "datacenter": tr("datacenter"), "apple": tr("apple"), None: tr("unknown segment")}.get(segment, segment or "")


def spec_section(gpu: GPU) -> Section:
    mem = [fmt_bytes(gpu.memory_bytes)]
    if gpu.memory_type:
        mem.append(gpu.memory_type)
    if gpu.bus_width_bits:
        mem.append(f"{gpu.bus_width_bits}-bit")
    mem.append(NA if gpu.bandwidth_gbs is None else f"{fmt_num(gpu.bandwidth_gbs, 1)} GB/s")
    unit = {"NVIDIA": tr("SMs"), "AMD": tr("CUs"), "Intel": tr("Xe cores"),
            "Apple": tr("GPU cores")}.get(gpu.vendor, tr("units"))
    units = [tr("{n} {unit}", n=gpu.sms, unit=unit) if gpu.sms else f"{unit}: {NA}",
             tr("{n} FP32 lanes", n=gpu.cuda_cores) if gpu.cuda_cores else tr("FP32 lanes: {x}", x=NA),
             tr("boost {mhz} MHz", mhz=fmt_num(gpu.boost_clock_mhz, 0)) if gpu.boost_clock_mhz
             else tr("boost: {x}", x=NA)]
    rows = [
        (tr("Memory"), tr(", ").join(mem)),
        (tr("Compute units"), tr(", ").join(units)),
        ("FP32", _tflops(gpu.fp32_tflops)),
        (tr("FP16 (non-tensor)"), _tflops(gpu.fp16_tflops)),
        (tr("Tensor FP16, FP32 acc"), _tflops(gpu.tensor_fp16_tflops)),
        (tr("Tensor FP16, FP16 acc"), _tflops(gpu.tensor_fp16_fp16acc_tflops)),
        (tr("Tensor BF16"), _tflops(gpu.tensor_bf16_tflops)),
        ("TF32 / FP8 / INT8", " / ".join([_tflops(gpu.tf32_tflops), _tflops(gpu.fp8_tflops),
                                          _tflops(gpu.int8_tops, "TOPS")])),
        ("TDP", NA if gpu.tdp_w is None else f"{fmt_num(gpu.tdp_w, 0)} W"),
        (tr("Launch"), f"{gpu.launch_date or NA}, "
                       + (NA if gpu.launch_price_usd is None else f"${fmt_num(gpu.launch_price_usd, 0)}")),
    ]
    if gpu.board:
        rows.append((tr("Board"), tr("{board}; this entry is one of {n} devices", board=gpu.board,
                                     n=gpu.devices_per_board)))
    return Section(tr("Specs (dense rates)"), tuple(rows))


def feature_section(f: Features) -> Section:
    u = set(f.unknown)
    fp16 = _yes(f.fp16_math, "fp16_math" in u)
    if f.fp16_math_note:
        fp16 = tr("{value} ({note})", value=fp16, note=tr(f.fp16_math_note))
    rows = [
        (tr("FP16 math"), fp16),
        (tr("Tensor cores"), _yes(f.tensor_cores, "tensor_cores" in u)),
        ("BF16 / TF32 / FP8", " / ".join(_yes(getattr(f, k), k in u) for k in ("bf16", "tf32", "fp8"))),
        ("INT8", tr("dp4a {dp4a}, tensor {tensor}", dp4a=_yes(f.int8_dp4a),
                    tensor=_yes(f.int8_tensor, "int8_tensor" in u))),
        (tr("Attention (SDPA)"), tr("flash {flash}, memory-efficient {mem}, math {math}", flash=_yes(f.flash_attention),
                                    mem=_yes(f.mem_efficient_attention), math=_yes(f.math_attention))),
    ]
    rows += [(tr("Note"), tr(n)) for n in f.notes]
    return Section(tr("Features"), tuple(rows))


def _variant_summary(c: CompatReport) -> str:
    parts = []
    vs = [v for v in c.pytorch_official.variants if v.platform == "linux-x86_64-pip"]
    for v in sorted(vs, key=lambda v: version_key(v.cuda)):
        tag = "cu" + "".join(str(p) for p in version_key(v.cuda)[:2])
        end = v.last or tr("current")
        parts.append(f"{tag} {v.first}" + ("" if v.first == end else f"-{end}") + (" (PTX JIT)" if v.ptx_only else ""))
    return tr(", ").join(parts) or tr("none")


def compat_section(gpu: GPU, c: CompatReport) -> Section:
    rows: list[tuple[str, str]] = []
    tk = c.cuda_toolkit
    if gpu.cc_tuple is not None:
        rng = tr("{lo} to {hi}", lo=tk.min, hi=tk.max or tr("current (13.x)"))
        if tk.last_driver_branch:
            rng = tr("{range}; last driver branch {branch}", range=rng, branch=tk.last_driver_branch)
        rows.append((tr("CUDA toolkit"), rng))
        if tk.toolkits:
            t = tk.toolkits[-1]
            win = (f"Windows >= {t.min_driver_windows}" if t.min_driver_windows
                   else tr("Windows: not in the table (not bundled from CUDA 13.1)"))
            rows.append((tr("Driver for CUDA {version}", version=t.version),
                         f"Linux >= {t.min_driver_linux or NA}, {win}"))
        pt = c.pytorch_official
        rows.append((tr("PyTorch official"), tr("first {first}, last {last}", first=pt.first or NA,
                                                last=pt.last or tr("current"))))
        rows.append((tr("PyTorch Linux wheels"), _variant_summary(c)))
        if tk.max is not None:
            rows.append((tr("PyTorch source build"), tr("{value} ({note})", value=f"<= {pt.newest_source_build or NA}",
                                                        note=tr(pt.source_build_note or ""))))
        rows += [(tr("Note"), tr(n)) for n in pt.notes]
    tf = c.tensorflow
    if tf.supported or tf.last:
        tf_text = tr("official {first} to {last}", first=tf.first or "?", last=tr("current") if tf.supported else tf.last)
        if tf.note:
            tf_text = tr("{a}; {b}", a=tf_text, b=tr(tf.note))
    else:
        tf_text = tr(tf.note) if tf.note else tr("no official binary")
    rows.append(("TensorFlow", tf_text))
    jx = c.jax
    if jx.supported:
        jax_text = tr("supported: {install}", install=jx.install)
        if jx.note:
            jax_text = tr("{a}; {b}", a=jax_text, b=tr(jx.note))
    elif jx.install:
        jax_text = f"{jx.install}" + (tr(" ({note})", note=tr(jx.note)) if jx.note else "")
    else:
        jax_text = tr(jx.note) if jx.note else tr("no official wheels")
    rows.append(("JAX", jax_text))
    if c.rocm.applicable:
        rows.append(("ROCm (Linux)", tr(c.rocm.linux) if c.rocm.linux else NA))
        if c.rocm.windows:
            rows.append(("ROCm (Windows)", c.rocm.windows))
        rows.append(("PyTorch ROCm", tr(c.rocm.pytorch_rocm) if c.rocm.pytorch_rocm else NA))
    if c.mps.applicable:
        rows.append(("PyTorch MPS", tr("from {version}, {requirement}; {note}", version=c.mps.first_pytorch,
                                       requirement=tr(c.mps.requirement or ""), note=tr(c.mps.note or ""))))
    return Section(tr("Compatibility"), tuple(rows))


def install_section(c: CompatReport) -> Section:
    rows = [(tr("Command"), c.install.command or tr("none (see options)")), (tr("Why"), tr(c.install.explanation))]
    rows += [(tr("Option"), tr(o)) for o in c.install.options]
    return Section(tr("Install"), tuple(rows))


def local_section(gpu: GPU, c: CompatReport) -> Section | None:
    lt = c.local_torch
    if lt is None:
        return None
    if not lt.available:
        return Section(tr("Local torch"), (("torch", tr(lt.note) if lt.note else tr("not installed")),))
    build = f"{lt.version}" + (f", CUDA {lt.cuda}" if lt.cuda else "") + (f", HIP {lt.hip}" if lt.hip else "")
    verdict = {True: tr("yes"), False: tr("no"), None: tr("unknown")}[lt.supports_gpu]
    if lt.note:
        verdict = tr("{value} ({note})", value=verdict, note=tr(lt.note))
    rows = [(tr("Build"), build), (tr("Arch list"), " ".join(lt.arch_list) or NA),
            (tr("Kernels for {gpu}", gpu=gpu.name), verdict)]
    return Section(tr("Local torch"), tuple(rows))


def gpu_sections(gpu: GPU, feats: Features, compat: CompatReport, verdict: Sequence[str]) -> list[Section]:
    sections = [Section(tr("Verdict"), tuple(("", tr(v)) for v in verdict)), spec_section(gpu),
                feature_section(feats), compat_section(gpu, compat), install_section(compat)]
    local = local_section(gpu, compat)
    if local:
        sections.append(local)
    src = [(tr("Specs"), "; ".join(gpu.sources))]
    if gpu.notes:
        src.append((tr("Notes"), gpu.notes))  # catalog data: the sources' own words, kept in English
    if compat.sources:
        src.append((tr("Compatibility"), ", ".join(compat.sources)))
    sections.append(Section(tr("Sources"), tuple(src)))
    return sections


def render_sections_plain(title: str, sections: Sequence[Section]) -> str:
    lines = [title, ""]
    for s in sections:
        lines.append(s.title)
        width = max((cell_len(label) for label, _ in s.rows), default=0)
        for label, value in s.rows:
            lines.append(f"  {_ljust(label, width)}  {value}".rstrip() if label else f"  {value}")
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


def list_columns() -> list[str]:
    """The column headers of `gpuplan gpus`, translated."""
    names = {"Name": tr("Name"), "Vendor": tr("Vendor"), "Architecture": tr("Architecture"), "Memory": tr("Memory"),
             "Launch": tr("Launch")}
    return [names.get(c, c) for c in LIST_COLUMNS]


def gpu_list_row(gpu: GPU) -> list[str]:
    return [
        gpu.name, gpu.vendor, gpu.architecture, gpu.compute_capability or gpu.gfx_target or "-",
        NA if gpu.memory_bytes is None else f"{gpu.memory_bytes / 2**30:g} GiB",
        fmt_num(gpu.bandwidth_gbs, 0), fmt_num(gpu.fp32_tflops, 1), fmt_num(gpu.tensor_fp16_tflops, 1),
        fmt_num(gpu.tdp_w, 0), gpu.launch_date or NA,
    ]


def list_footer(n: int) -> str:
    return tr("{n} GPUs. * dense FP16/BF16 tensor TFLOPS with FP32 accumulate (what mixed-precision training uses).",
              n=n)


def render_gpu_list_plain(gpus: Sequence[GPU]) -> str:
    rows = [list_columns()] + [gpu_list_row(g) for g in gpus]
    widths = [max(cell_len(r[i]) for r in rows) for i in range(len(LIST_COLUMNS))]
    numeric = {4, 5, 6, 7, 8}
    out = []
    for r in rows:
        cells = [_rjust(c, w) if i in numeric else _ljust(c, w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    out.append("")
    out.append(list_footer(len(gpus)))
    return "\n".join(out) + "\n"


def print_gpu_list(console: Console, gpus: Sequence[GPU]) -> None:
    if not console.is_terminal:
        console.file.write(render_gpu_list_plain(gpus))
        return
    table = Table(show_lines=False)
    for i, col in enumerate(list_columns()):
        table.add_column(col, justify="right" if i in {4, 5, 6, 7, 8} else "left", no_wrap=i > 2)
    for g in gpus:
        table.add_row(*gpu_list_row(g))
    console.print(table)
    console.print(list_footer(len(gpus)))
