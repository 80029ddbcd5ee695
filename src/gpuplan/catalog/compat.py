"""Software compatibility of a GPU: CUDA toolkits and drivers, official PyTorch wheels, TensorFlow,
JAX, ROCm, MPS, and the install command a person needs.

All answers are computed from sourced tables in ``data/`` (shared data/compat.md Part 2 and
data/pytorch-arch-list.csv); the sm/PTX rule is :func:`gpuplan.catalog.archlist.binary_supports`.
Where a table says "not found", the answer is ``None`` with a note, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from gpuplan.catalog._data import read_csv, source_keys, split_list
from gpuplan.catalog.archlist import binary_supports
from gpuplan.catalog.types import GPU
from gpuplan.i18n import msg, msg_join

LINUX_PIP = "linux-x86_64-pip"
_PT_ARCH_SOURCES = ("BUILDER", "MOI90", "PT-CI", "PT-RELEASE", "PTKR")


# ---------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class ToolkitSupport:
    version: str  # "10.2"
    release: str  # the release whose driver floor is given ("10.2.89", "12.8 GA")
    min_driver_linux: str | None
    min_driver_windows: str | None
    note: str | None = None


@dataclass(frozen=True)
class CudaToolkitCompat:
    min: str | None  # oldest toolkit that can target the GPU (tables start at 7.0)
    max: str | None  # newest toolkit that can target it; None = still supported by the newest toolkit
    toolkits: tuple[ToolkitSupport, ...] = ()
    last_driver_branch: str | None = None
    note: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class PyTorchVariant:
    platform: str  # "linux-x86_64-pip" | "windows-pip" | "conda" | "linux-aarch64-pip"
    cuda: str  # "11.8"
    first: str | None  # first release of this variant with kernels for the GPU
    last: str | None  # last such release (None = the newest release of this variant still has them)
    arch_list: str | None  # arch list of the last supporting release
    verified: bool = True  # False when the newest supporting row is an expected (unverified) list
    ptx_only: bool = False  # the last supporting release runs on this GPU only by JIT-compiling PTX


@dataclass(frozen=True)
class PyTorchCompat:
    first: str | None  # first release whose official Linux wheels include kernels for this GPU
    last: str | None  # last such release; None when the newest release still does
    newest_runnable: str | None  # newest release (verified arch list) with kernels for this GPU
    newest_runnable_cuda: str | None
    variants: tuple[PyTorchVariant, ...] = ()
    newest_source_build: str | None = None  # newest release buildable with a toolkit that targets it
    source_build_note: str | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameworkCompat:
    supported: bool  # official binaries of the newest release run on this GPU
    first: str | None = None
    last: str | None = None  # last release with official support; None when current releases support it
    install: str | None = None
    note: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class RocmCompat:
    applicable: bool
    gfx_target: str | None = None
    linux: str | None = None
    windows: str | None = None
    pytorch_rocm: str | None = None  # newest PyTorch line with a known ROCm wheel and its ROCm version
    install: str | None = None
    note: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class MpsCompat:
    applicable: bool
    first_pytorch: str | None = None
    requirement: str | None = None
    install: str | None = None
    note: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstallAdvice:
    command: str | None  # the exact command for the newest PyTorch that runs on this GPU, if any
    torch_version: str | None
    backend: str | None  # "cu126", "rocm7.2", "mps", "cpu"
    explanation: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocalTorch:
    available: bool
    version: str | None = None
    cuda: str | None = None
    hip: str | None = None
    arch_list: tuple[str, ...] = ()
    supports_gpu: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class CompatReport:
    gpu: str
    cuda_toolkit: CudaToolkitCompat
    pytorch_official: PyTorchCompat
    tensorflow: FrameworkCompat
    jax: FrameworkCompat
    rocm: RocmCompat
    mps: MpsCompat
    install: InstallAdvice
    local_torch: LocalTorch | None
    sources: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------------------ versions
def version_key(text: str) -> tuple[int, ...]:
    """``"12.8"`` -> (12, 8); ``"2.7.1"`` -> (2, 7, 1)."""
    return tuple(int(p) for p in re.findall(r"\d+", text))


def cuda_key(text: str) -> tuple[int, int]:
    """A CUDA version as (major, minor); a bare major ("8", "10.x") counts as major.0."""
    v = version_key(text)
    return (v[0], v[1] if len(v) > 1 else 0)


def _mm(text: str) -> str:
    """Major.minor of a version: ``"10.2.89"`` -> ``"10.2"``."""
    return ".".join(str(p) for p in version_key(text)[:2])


# ------------------------------------------------------------------------------------- CUDA toolkit
@cache
def _sm_rows() -> tuple[dict[str, str], ...]:
    return read_csv("cuda_sm.csv")


def _sm_row(cc: tuple[int, int]) -> dict[str, str] | None:
    for row in _sm_rows():
        if version_key(row["sm_min"]) <= cc <= version_key(row["sm_max"]):
            return row
    return None


def _driver_branch(cc: tuple[int, int]) -> dict[str, str] | None:
    for row in read_csv("driver_branches.csv"):
        if version_key(row["cc_min"]) <= cc <= version_key(row["cc_max"]):
            return row
    return None


def cuda_toolkit_compat(gpu: GPU) -> CudaToolkitCompat:
    """Which CUDA toolkits can target the GPU, with each toolkit's minimum driver (compat.md §2.1, §2.2)."""
    cc = gpu.cc_tuple
    if cc is None:
        return CudaToolkitCompat(None, None, note=msg("not a CUDA device ({vendor})", vendor=gpu.vendor))
    row = _sm_row(cc)
    if row is None:
        return CudaToolkitCompat(None, None, note=msg("compute capability {cc} is not in the toolkit table",
                                                      cc=gpu.compute_capability))
    first, last = row["first_cuda"], row["last_cuda"] or None
    branch = _driver_branch(cc)
    toolkits = []
    for d in sorted(read_csv("cuda_drivers.csv"), key=lambda r: version_key(r["toolkit"])):
        v = version_key(d["toolkit"])
        if v < version_key(first) or (last and v > version_key(last)):
            continue
        note = None
        if branch and branch["newest_cuda_native"] and v > version_key(branch["newest_cuda_native"]):
            note = msg("needs a newer driver than {branch}, the last branch for {arch}; runs on {branch} only through "
                       "CUDA minor-version compatibility (11.x >= 450; no PTX JIT)",
                       branch=branch["last_driver_branch"], arch=branch["architecture"])
        toolkits.append(ToolkitSupport(d["toolkit"], d["release"], d["min_driver_linux"] or None,
                                       d["min_driver_windows"] or None, note))
    sources = [*source_keys(row["source"]), "CUDA-RN-13.2.2"]
    notes = [msg("oldest toolkit in the tables is 7.0: earlier toolkits are not tracked")]
    if branch:
        sources += [k for k in source_keys(branch["source"]) if k not in sources]
        notes.append(msg("last NVIDIA driver branch for {arch}: {branch}", arch=branch["architecture"],
                         branch=branch["last_driver_branch"]))
    return CudaToolkitCompat(first, last, tuple(toolkits), branch["last_driver_branch"] if branch else None,
                             msg_join("; ", notes), tuple(dict.fromkeys(sources)))


# ------------------------------------------------------------------------------------------- PyTorch
@dataclass(frozen=True)
class _Line:
    line: str
    releases: tuple[str, ...]
    cuda: tuple[str, ...]
    rocm: tuple[str, ...]

    @property
    def newest(self) -> str:
        return self.releases[-1] if self.releases else self.line


@cache
def release_lines() -> tuple[_Line, ...]:
    """PyTorch release lines, oldest first (``data/pytorch_releases.csv``)."""
    return tuple(
        _Line(r["line"], split_list(r["releases"]), split_list(r["cuda"]), split_list(r["rocm"]))
        for r in read_csv("pytorch_releases.csv")
    )


def _lines_for_label(label: str) -> list[_Line]:
    """Arch-list labels ("0.3.0", "1.9.x", "2.1.x-2.3.x", "2.6.0") -> the release lines they cover."""
    lines = release_lines()
    names = [ln.line for ln in lines]

    def find(lbl: str) -> int:
        lbl = lbl.strip().removesuffix(".x")
        if lbl in names:
            return names.index(lbl)
        return names.index(_mm(lbl))

    if "-" in label:
        a, b = label.split("-")
        return list(lines[find(a): find(b) + 1])
    return [lines[find(label)]]


@dataclass(frozen=True)
class _ArchRow:
    line: _Line
    cuda: str
    platform: str
    arch_list: str
    verified: bool


@cache
def _arch_rows() -> tuple[_ArchRow, ...]:
    out = []
    for r in read_csv("pytorch_arch_list.csv"):
        arch = r["arch_list"]
        if not arch or arch.startswith("not found"):
            continue
        verified = "(expected)" not in arch
        arch = arch.replace("(expected)", "").strip()
        for ln in _lines_for_label(r["torch_version"]):
            out.append(_ArchRow(ln, r["cuda_version"], r["platform"], arch, verified))
    order = {ln.line: i for i, ln in enumerate(release_lines())}
    return tuple(sorted(out, key=lambda a: (order[a.line.line], version_key(a.cuda))))


def _sass_only(arch_list: str) -> str:
    """The arch list without its PTX part ("5.0;6.0+PTX" -> "5.0;6.0")."""
    return ";".join(a.replace("+PTX", "") for a in split_list(arch_list) if not a.lower().startswith("compute_"))


def _runs(row: _ArchRow, cc: tuple[int, int], min_cuda: str | None) -> bool:
    """A build runs on the GPU: its arch list covers the CC (archlist rule) and its CUDA toolkit is not older
    than the first toolkit that can target the GPU (older builds could only JIT PTX, and their bundled
    libraries predate the GPU)."""
    if min_cuda and cuda_key(row.cuda) < cuda_key(min_cuda):
        return False
    return binary_supports(row.arch_list, cc)


def _variants(cc: tuple[int, int], min_cuda: str | None) -> list[PyTorchVariant]:
    groups: dict[tuple[str, str], list[_ArchRow]] = {}
    for row in _arch_rows():
        groups.setdefault((row.platform, row.cuda), []).append(row)
    out = []
    for (platform, cuda), rows in groups.items():
        ok = [r for r in rows if _runs(r, cc, min_cuda)]
        if not ok:
            continue
        still = rows[-1] in ok and rows[-1].line == release_lines()[-1]
        ptx_only = not binary_supports(_sass_only(ok[-1].arch_list) or "0.0", cc)
        out.append(PyTorchVariant(platform, cuda, ok[0].line.releases[0], None if still else ok[-1].line.newest,
                                  ok[-1].arch_list, ok[-1].verified, ptx_only))
    return out


def _newest_line_with_cuda_at_most(max_cuda: str) -> _Line | None:
    best = None
    for ln in release_lines():
        if any(version_key(c) <= version_key(max_cuda) for c in ln.cuda):
            best = ln
    return best


def pytorch_compat(gpu: GPU, toolkit: CudaToolkitCompat) -> PyTorchCompat:
    """Official PyTorch wheels with kernels for this GPU (Linux x86_64 pip decides first/last)."""
    cc = gpu.cc_tuple
    if cc is None:
        return PyTorchCompat(None, None, None, None, notes=(msg("CUDA wheels do not apply: not an NVIDIA GPU"),))
    rows = [r for r in _arch_rows() if r.platform == LINUX_PIP]
    ok = [r for r in rows if _runs(r, cc, toolkit.min)]
    newest_line = release_lines()[-1]
    notes: list[str] = []
    if not ok:
        first = last = newest = newest_cuda = None
    else:
        first = ok[0].line.releases[0]
        still = any(r.line == newest_line for r in ok)
        last = None if still else ok[-1].line.newest
        verified_ok = [r for r in ok if r.verified]
        newest_row = max(verified_ok, key=lambda r: (release_lines().index(r.line), version_key(r.cuda)))
        newest, newest_cuda = newest_row.line.newest, newest_row.cuda
        before_newest = release_lines()[-2]
        if not still and ok[-1].line == before_newest and any(r.line == newest_line and not r.verified for r in rows):
            notes.append(msg("PyTorch {version} is expected to drop this GPU: its CUDA variants and arch lists are a "
                             "proposal (PT-RFC-190385), not verified", version=newest_line.newest))
        if still and not ok[-1].verified:
            notes.append(msg("support in {version} rests on expected arch lists (PT-RFC-190385), not verified",
                             version=newest_line.newest))
    if toolkit.max is None:
        src_build, src_note = None, msg("current CUDA toolkits target this GPU: any release builds for it")
    else:
        ln = _newest_line_with_cuda_at_most(toolkit.max)
        src_build = ln.newest if ln else None
        src_note = msg("newest release with an official build on CUDA <= {cuda} (the newest toolkit able to target "
                       "{sm}); build with TORCH_CUDA_ARCH_LIST={cc}. An upper bound: whether that release's source "
                       "still compiles for this architecture is not verified", cuda=toolkit.max, sm=f"sm_{cc[0]}{cc[1]}",
                       cc=gpu.compute_capability)
    return PyTorchCompat(first, last, newest, newest_cuda, tuple(_variants(cc, toolkit.min)), src_build, src_note,
                         tuple(notes), _PT_ARCH_SOURCES)


# ----------------------------------------------------------------------------------- other frameworks
def tensorflow_compat(gpu: GPU) -> FrameworkCompat:
    """Official TensorFlow GPU binaries (Linux pip) for this GPU (compat.md §2.4)."""
    cc = gpu.cc_tuple
    if cc is None:
        return FrameworkCompat(False, note=msg("official TensorFlow GPU wheels are CUDA-only (AMD: tensorflow-rocm; "
                                               "Apple: tensorflow-metal) - not covered by gpuplan's sources"))
    rows = [r for r in read_csv("tensorflow.csv") if "Windows" not in r["versions"]]
    first_cuda = cuda_toolkit_compat(gpu).min
    ok = []
    for r in rows:
        newest_cuda = r["cuda"].split("-")[-1]
        if first_cuda and cuda_key(newest_cuda) < cuda_key(first_cuda):
            continue  # built with a toolkit older than the GPU (see _runs)
        runs = binary_supports(r["arch_list"], cc) if r["arch_list"] else cc >= version_key(r["min_cc"])
        if runs:
            ok.append(r)
    sources = tuple(dict.fromkeys(k for r in rows for k in source_keys(r["source"])))
    win = next(r for r in read_csv("tensorflow.csv") if "Windows" in r["versions"])
    win_note = (msg(" The Windows 0.12 pip package was built for CC 3.0 (TF-6083, TF-6125).")
                if binary_supports(win["arch_list"], cc) else "")
    if not ok:
        ptx = [r for r in rows if r["arch_list"] and binary_supports(r["arch_list"], cc)]
        ptx_note = (msg(" TensorFlow {versions} ships PTX that a current driver can JIT-compile for it, but was built "
                        "with CUDA {cuda}, older than the first toolkit for this GPU ({first}): not counted as official "
                        "support.", versions=ptx[-1]["versions"], cuda=ptx[-1]["cuda"], first=first_cuda)
                    if ptx else "")
        return FrameworkCompat(False, note=msg("no official Linux TensorFlow binary supports this GPU; a source build "
                                               "with TF_CUDA_COMPUTE_CAPABILITIES is the only way.{win}{ptx}",
                                               win=win_note, ptx=ptx_note),
                               sources=sources)
    current = ok[-1] is rows[-1]
    inferred = [r["versions"] for r in ok if r["basis"] == "inferred"]
    parts = [msg("{versions}: inferred, exact capability list not found", versions=v) for v in inferred]
    if current and cc < (7, 5):
        parts.append(msg("TensorFlow's CUDA 13 configuration targets sm_75+ (TF-CONFIGURE-TEST); the release "
                         "shipping it is not known"))
    note = msg_join("; ", parts) if parts else None
    return FrameworkCompat(current, ok[0]["first"], None if current else ok[-1]["last"],
                           None, note, sources)


def jax_compat(gpu: GPU) -> FrameworkCompat:
    """Official jaxlib CUDA wheels (compat.md §2.5)."""
    if gpu.vendor == "AMD":
        return FrameworkCompat(False, install='pip install "jax[rocm7-local]"',
                               note=msg("JAX on AMD GPUs through ROCm (JAX-INSTALL); per-GPU support follows ROCm"),
                               sources=("JAX-INSTALL",))
    if gpu.vendor == "Apple":
        return FrameworkCompat(False, note=msg("experimental Apple GPU support through the Metal plugin (JAX-INSTALL)"),
                               sources=("JAX-INSTALL",))
    cc = gpu.cc_tuple
    if cc is None:
        return FrameworkCompat(False, note=msg("no official JAX GPU wheels for this vendor in gpuplan's sources"))
    rows = read_csv("jax.csv")
    sources = ("JAX-INSTALL",)
    for r in rows:
        if cc >= version_key(r["min_cc"]):
            current = r["current"] == "yes"
            note = msg("Linux x86_64/aarch64 only (Windows: WSL2, experimental)")
            if not current:
                note = msg("Linux x86_64/aarch64 only (Windows: WSL2, experimental); whether current JAX releases "
                           "still publish CUDA 12 wheels is not in gpuplan's sources")
            return FrameworkCompat(current, install=f'pip install -U "{r["extra"]}"', note=note, sources=sources)
    return FrameworkCompat(False, note=msg("never: JAX GPU wheels need SM 5.2 or newer"), sources=sources)


def rocm_compat(gpu: GPU) -> RocmCompat:
    """ROCm platform support for AMD GPUs (compat.md §2.6) and the newest known PyTorch ROCm wheel."""
    if gpu.vendor != "AMD":
        return RocmCompat(False)
    row = next((r for r in read_csv("rocm.csv") if r["gfx_target"] == gpu.gfx_target), None)
    with_rocm = [ln for ln in release_lines() if ln.rocm]
    newest = with_rocm[-1] if with_rocm else None
    pt = msg("PyTorch {version} with ROCm {rocm}", version=newest.newest, rocm=newest.rocm[0]) if newest else None
    install = (f"pip install torch=={newest.newest} --index-url https://download.pytorch.org/whl/rocm{newest.rocm[0]}"
               if newest else None)
    note = msg("Which gfx targets each PyTorch ROCm wheel is compiled for is not in gpuplan's sources; the ROCm "
               "versions of PyTorch releases after {line} were not found.", line=newest.line if newest else "?")
    if row is None:
        return RocmCompat(True, gpu.gfx_target, msg("not found in gpuplan's ROCm table"), None, pt, install, note)
    return RocmCompat(True, gpu.gfx_target, row["linux"] or None, row["windows"] or None, pt, install, note,
                      (*source_keys(row["source"]), "PTKR", "PT-RELEASE"))


def mps_compat(gpu: GPU) -> MpsCompat:
    """PyTorch's Metal (MPS) backend for Apple GPUs."""
    if gpu.vendor != "Apple":
        return MpsCompat(False)
    return MpsCompat(True, "1.12.0", msg("macOS 12.3 or newer"), "pip install torch",
                     msg("use device='mps'; some operators fall back to the CPU (PYTORCH_ENABLE_MPS_FALLBACK=1)"),
                     ("PT-MPS",))


# -------------------------------------------------------------------------------------------- install
def _cuda_tag(cuda: str) -> str:
    return "cu" + "".join(str(p) for p in version_key(cuda)[:2])


def pip_command(version: str, cuda: str) -> str | None:
    """The pip command for an official CUDA wheel, or None for releases older than 1.8 (no stable form)."""
    v = version_key(version)
    tag = _cuda_tag(cuda)
    if v >= (2, 0):
        return f"pip install torch=={version} --index-url https://download.pytorch.org/whl/{tag}"
    if v >= (1, 8):
        return f"pip install torch=={version}+{tag} -f https://download.pytorch.org/whl/torch_stable.html"
    return None


def driver_requirement(cuda: str) -> str | None:
    """Linux driver needed by a wheel built with CUDA ``cuda``: the family floor of CUDA minor-version
    compatibility (11.x and newer; CUDA-RN-13.2.2 Table 2), else the toolkit's own minimum (Table 3)."""
    ga = next((r["min_driver_linux"] for r in read_csv("cuda_drivers.csv") if r["toolkit"] == _mm(cuda)), None)
    floor = next((r["min_driver_linux"] for r in read_csv("cuda_minor_compat.csv")
                  if r["cuda_major"] == str(version_key(cuda)[0])), None)
    if floor and ga:
        return msg(">= {floor} (CUDA {major}.x minor-version compatibility; the CUDA {cuda} toolkit lists >= {ga})",
                   floor=floor, major=version_key(cuda)[0], cuda=_mm(cuda), ga=ga)
    return f">= {ga}" if ga else None


def install_advice(gpu: GPU, toolkit: CudaToolkitCompat, pt: PyTorchCompat, rocm: RocmCompat,
                   mps: MpsCompat) -> InstallAdvice:
    """The exact command for the newest PyTorch that runs on this GPU, or the honest options."""
    cpu = msg("CPU only: {command}", command="pip install torch --index-url https://download.pytorch.org/whl/cpu")
    if gpu.vendor == "Apple":
        return InstallAdvice(mps.install, None, "mps", msg("PyTorch's macOS wheels include the MPS (Metal) backend."),
                             (cpu,))
    if gpu.vendor == "AMD":
        status = rocm.linux or msg("status not found")
        why = (msg("ROCm on Linux: {status}. {note}", status=status, note=rocm.note) if rocm.note
               else msg("ROCm on Linux: {status}.", status=status))
        return InstallAdvice(rocm.install, None, None, why, (cpu,))
    if gpu.cc_tuple is None:
        return InstallAdvice(None, None, None, msg("not a CUDA or ROCm device: gpuplan's sources do not cover its "
                                                   "PyTorch backend (Intel GPUs use PyTorch's XPU backend)."), (cpu,))
    upgrade = msg("Upgrade the GPU: compute capability 7.5 or newer runs every current PyTorch build")
    source = msg("Build PyTorch <= {version} from source with CUDA <= {cuda} and TORCH_CUDA_ARCH_LIST={cc} (not "
                 "verified for this architecture)", version=pt.newest_source_build, cuda=toolkit.max,
                 cc=gpu.compute_capability)
    options: list[str] = []
    newer_source = pt.newest_source_build and (
        not pt.newest_runnable or version_key(pt.newest_source_build) > version_key(pt.newest_runnable))
    if not (pt.newest_runnable and pt.newest_runnable_cuda):
        options = ([source] if pt.newest_source_build else []) + [cpu, upgrade]
        return InstallAdvice(None, None, None, msg("No official PyTorch wheel has kernels for this GPU."),
                             tuple(options))
    cmd = pip_command(pt.newest_runnable, pt.newest_runnable_cuda)
    tag = _cuda_tag(pt.newest_runnable_cuda)
    driver = driver_requirement(pt.newest_runnable_cuda)
    sm = f"sm_{gpu.cc_tuple[0]}{gpu.cc_tuple[1]}"
    why = (msg("PyTorch {version} ({tag}) is the newest official build with kernels for {sm}; it needs an NVIDIA "
               "driver {driver} on Linux.", version=pt.newest_runnable, tag=tag, sm=sm, driver=driver) if driver
           else msg("PyTorch {version} ({tag}) is the newest official build with kernels for {sm}.",
                    version=pt.newest_runnable, tag=tag, sm=sm))
    if cmd is None:
        why = msg("{why} No pip one-liner for a release this old: take the {tag} wheel for your Python from "
                  "PyTorch's previous-versions page (wheels of that age exist only for the Python versions of "
                  "their time).", why=why, tag=tag)
        options.append(msg("Old official wheel: PyTorch {version} ({tag})", version=pt.newest_runnable, tag=tag))
    if newer_source:
        options.append(source)
    options.append(cpu)
    if pt.last is not None:
        options.append(upgrade)
    return InstallAdvice(cmd, pt.newest_runnable, tag, why, tuple(options))


# -------------------------------------------------------------------------------------- local torch
def local_torch_check(gpu: GPU) -> LocalTorch:
    """Does the locally installed torch build have kernels for ``gpu``? (No GPU needed.)"""
    try:
        import torch
    except ImportError:
        return LocalTorch(False, note=msg("torch is not installed"))
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    arch: list[str] = []
    try:
        arch = list(torch.cuda.get_arch_list())
        if not arch and cuda and hasattr(torch._C, "_cuda_getArchFlags"):
            arch = (torch._C._cuda_getArchFlags() or "").split()
    except Exception:  # a CPU build or a broken CUDA install: no arch list
        arch = []
    supports: bool | None
    note = None
    if gpu.vendor == "NVIDIA" and gpu.cc_tuple is not None:
        if not cuda:
            supports, note = False, msg("this torch build has no CUDA support (CPU build)")
        elif not arch:
            supports, note = None, msg("this torch build did not report its arch list")
        else:
            supports = binary_supports(arch, gpu.cc_tuple)
    elif gpu.vendor == "AMD":
        supports = None if hip else False
        note = msg("ROCm build; gfx target list not checked") if hip else msg("this torch build has no ROCm support")
    elif gpu.vendor == "Apple":
        supports = bool(torch.backends.mps.is_built())
    else:
        supports, note = None, msg("not checked for this vendor")
    return LocalTorch(True, torch.__version__, cuda, hip, tuple(arch), supports, note)


# -------------------------------------------------------------------------------------------- report
def _leading_key(cited: str) -> str:
    """``"LLVM (MAX CUDA_102)"`` -> ``"LLVM"``: the source key without its detail."""
    m = re.match(r"[A-Za-z0-9.\-]+", cited.strip())
    return m.group() if m else cited.strip()


def compat_report(gpu: GPU, local_torch: bool = True) -> CompatReport:
    """Everything about running deep learning software on ``gpu``; see the module docstring."""
    toolkit = cuda_toolkit_compat(gpu)
    pt = pytorch_compat(gpu, toolkit)
    rocm = rocm_compat(gpu)
    mps = mps_compat(gpu)
    tf = tensorflow_compat(gpu)
    jx = jax_compat(gpu)
    sources: list[str] = []
    for part in (toolkit, pt, tf, jx, rocm, mps):
        for cited in part.sources:
            key = _leading_key(cited)
            if key not in sources:
                sources.append(key)
    return CompatReport(
        gpu=gpu.name,
        cuda_toolkit=toolkit,
        pytorch_official=pt,
        tensorflow=tf,
        jax=jx,
        rocm=rocm,
        mps=mps,
        install=install_advice(gpu, toolkit, pt, rocm, mps),
        local_torch=local_torch_check(gpu) if local_torch else None,
        sources=tuple(sources),
    )
