"""`gpuplan doctor`: can this machine run PyTorch on its GPUs, and if not, what to change.

Collects three snapshots (host, installed torch build, NVML driver/GPUs), then checks them against
each other and returns one typed :class:`DoctorReport`; renderers only read it::

    >>> from gpuplan.system.doctor import collect_doctor
    >>> report = collect_doctor()
    >>> [(f.level.value, f.message) for f in report.findings]   # no driver on this machine
    [('warn', 'no NVIDIA driver found (...)...')]

Every source of facts is injectable (``nvml_lib``, ``torch_build``, ``host``, ``catalog_lookup``,
``install_advice``) so tests run on canned tables. No driver / no GPU is a normal answer.
The kernel rule is :func:`gpuplan.catalog.archlist.binary_supports`; the CUDA -> driver table is
:mod:`gpuplan.system.driver`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from gpuplan.catalog.archlist import binary_supports, parse_arch_list
from gpuplan.catalog.types import GPU
from gpuplan.errors import GpuplanError
from gpuplan.i18n import Msg, msg, msg_join
from gpuplan.system.driver import DriverCheck, DriverVerdict, check_driver
from gpuplan.system.host import HostInfo, collect_host
from gpuplan.system.nvml import NvmlDevice, NvmlLib, NvmlSnapshot, NvmlStatus, query_nvml
from gpuplan.system.torchinfo import TorchBuild, collect_torch_build

__all__ = [
    "CatalogMatch",
    "Check",
    "DoctorReport",
    "Finding",
    "GpuCheck",
    "KernelSupport",
    "Level",
    "check_all",
    "collect_doctor",
    "match_catalog",
]

CatalogLookup = Callable[[str], GPU]  # gpuplan.catalog.get_gpu: raises UnknownGPUError
InstallAdvice = Callable[[GPU], str | None]  # plain-words install advice for a GPU, or None


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


class Check(enum.StrEnum):
    """What a finding is about (stable codes for JSON consumers)."""

    NVML = "nvml"  # driver present / usable
    GPUS = "gpus"  # at least one GPU listed
    TORCH = "torch"  # torch importable, CUDA build
    DRIVER = "driver"  # driver new enough for the torch build's CUDA
    VISIBLE_DEVICES = "visible_devices"  # CUDA_VISIBLE_DEVICES
    CATALOG = "catalog"  # GPU known to gpuplan's catalog
    KERNELS = "kernels"  # torch build has kernels for the GPU's compute capability


@dataclass(frozen=True)
class Finding:
    level: Level
    check: Check
    message: str
    fix: str | None = None
    gpu_index: int | None = None  # None = about the machine / build, not one GPU


class KernelSupport(enum.StrEnum):
    YES = "yes"  # SASS for the GPU's major version in the build
    PTX_ONLY = "ptx_only"  # runs by JIT-compiling PTX (slow first start)
    NO = "no"
    UNKNOWN = "unknown"  # compute capability or arch list unknown
    NOT_APPLICABLE = "n/a"  # torch missing or not a CUDA build


@dataclass(frozen=True)
class CatalogMatch:
    """The catalog entry for an NVML device name. ``name=None`` = N/A, ``note`` says why."""

    name: str | None = None
    architecture: str | None = None
    compute_capability: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class GpuCheck:
    device: NvmlDevice
    catalog: CatalogMatch
    compute_capability: tuple[int, int] | None  # NVML's, else the catalog's
    cc_source: str | None  # "nvml" | "catalog" | None
    kernels: KernelSupport
    findings: tuple[Finding, ...] = ()

    @property
    def sm(self) -> str | None:
        return None if self.compute_capability is None else "sm_{}{}".format(*self.compute_capability)


@dataclass(frozen=True)
class DoctorReport:
    """Everything doctor found. ``findings`` holds all of them, machine-wide first, then per GPU."""

    host: HostInfo
    torch: TorchBuild
    nvml: NvmlSnapshot
    driver: DriverCheck | None  # None when there is no driver or no CUDA build to compare
    gpus: tuple[GpuCheck, ...]
    findings: tuple[Finding, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The JSON form: every field plus a ``summary`` of finding counts."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["summary"] = {"worst": self.worst, **{lv.value: self.count(lv) for lv in Level}}
        return out

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level is level)

    @property
    def worst(self) -> Level:
        levels = {f.level for f in self.findings}
        return next((lv for lv in (Level.ERROR, Level.WARN) if lv in levels), Level.OK)


# ---------------------------------------------------------------------------------------------
# Catalog adapters (the catalog module may not exist yet: degrade to N/A)


def _default_catalog_lookup() -> CatalogLookup | None:
    try:
        from gpuplan.catalog import get_gpu  # type: ignore[attr-defined]
    except ImportError:
        try:  # the catalog's module, before the package re-exports it
            from gpuplan.catalog.lookup import get_gpu  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None
    return get_gpu  # type: ignore[no-any-return]


def _default_install_advice() -> InstallAdvice | None:
    try:
        from gpuplan.catalog import compat_report  # type: ignore[attr-defined]
    except ImportError:
        try:
            from gpuplan.catalog.compat import compat_report  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None

    def advice(gpu: GPU) -> str | None:
        try:
            report = compat_report(gpu, local_torch=False)  # doctor has already inspected torch
        except TypeError:
            report = compat_report(gpu)
        return _advice_text(report)

    return advice


def _advice_text(report: Any) -> str | None:
    """Install advice out of a catalog compat report, tolerant of its shape.

    Expected: ``report.install`` with ``explanation``, ``command`` (None when there is no pip
    one-liner) and ``options``; plain strings under ``install``/``advice``/``fix`` also work.
    """
    install = report.get("install") if isinstance(report, dict) else getattr(report, "install", None)
    explanation = getattr(install, "explanation", None)
    if isinstance(explanation, str) and explanation.strip():
        parts = [o if isinstance(o, Msg) else str(o).strip()
                 for o in (explanation, *(getattr(install, "options", None) or ()))]
        command = getattr(install, "command", None)
        if command or getattr(install, "torch_version", None):
            parts = parts[:1]  # a concrete release: its explanation is the advice
        text = msg_join(" ", [p if p.endswith(".") else msg("{x}.", x=p) for p in parts])
        return msg("{text} Run: {command}", text=text, command=command) if command else text
    for key in ("install", "install_advice", "advice", "fix"):
        value = report.get(key) if isinstance(report, dict) else getattr(report, key, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return msg_join("; ", value)
    return None


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def _narrow(
    nvml_name: str, candidates: list[str], memory_total: int | None, lookup: CatalogLookup
) -> GPU | None:
    """Pick one of several catalog names an NVML name matched (e.g. RTX 3060 8GB / 12GB / Ti).

    Keep candidates whose words all appear in the NVML name (size words like "12gb" excepted), then
    those whose memory is within 10% of what NVML reports (NVML's total is a little under the
    marketed size). One survivor = the match; otherwise None (stays ambiguous).
    """
    have = _words(nvml_name)
    gpus: list[GPU] = []
    for cand in candidates:
        if not all(w in have or re.fullmatch(r"\d+gb", w) for w in _words(cand)):
            continue
        try:
            gpus.append(lookup(cand))
        except Exception:  # candidate name not resolvable on its own: skip it
            continue
    if memory_total and len(gpus) > 1:
        gpus = [
            g for g in gpus if g.memory_bytes and abs(g.memory_bytes - memory_total) <= 0.1 * g.memory_bytes
        ]
    return gpus[0] if len(gpus) == 1 else None


def match_catalog(
    name: str | None, lookup: CatalogLookup | None, memory_total_bytes: int | None = None
) -> tuple[CatalogMatch, GPU | None]:
    """Match an NVML device name ("NVIDIA GeForce GTX 760", "Tesla T4") to a catalog entry.

    An ambiguous name is narrowed with NVML's memory size (RTX 3060 8GB vs 12GB).
    """
    if name is None:
        return CatalogMatch(note=msg("device name unavailable")), None
    if lookup is None:
        return CatalogMatch(note=msg("catalog not available")), None
    candidates = [name]
    if name.upper().startswith("NVIDIA "):
        candidates.append(name[len("NVIDIA ") :])
    ambiguous: list[str] = []
    for query in candidates:
        try:
            gpu = lookup(query)
        except GpuplanError as err:  # UnknownGPUError: unknown or ambiguous
            if getattr(err, "ambiguous", False):
                ambiguous = list(getattr(err, "candidates", []))
            continue
        except Exception as err:  # a catalog bug must not take doctor down
            return CatalogMatch(note=msg("catalog lookup failed: {err}", err=f"{type(err).__name__}: {err}")), None
        return CatalogMatch(gpu.name, gpu.architecture, gpu.compute_capability), gpu
    if ambiguous:
        gpu = _narrow(name, ambiguous, memory_total_bytes, lookup)
        if gpu is not None:
            return CatalogMatch(gpu.name, gpu.architecture, gpu.compute_capability), gpu
        return CatalogMatch(note=msg("ambiguous in the gpuplan catalog: {names}", names=", ".join(ambiguous))), None
    return CatalogMatch(note=msg("not in the gpuplan catalog")), None


# ---------------------------------------------------------------------------------------------
# Checks (pure: snapshots in, findings out)


def _cc_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def _build_name(tb: TorchBuild) -> str:
    return f"torch {tb.version}"


def _nvml_findings(nvml: NvmlSnapshot) -> list[Finding]:
    text = nvml.message or nvml.status.value
    if nvml.status is NvmlStatus.NO_LIBRARY:
        return [
            Finding(
                Level.WARN,
                Check.NVML,
                msg("{problem}. This is a normal answer: PyTorch runs on the CPU here, and gpuplan still predicts "
                    "fit and speed for any GPU in its catalog (`gpuplan gpus` lists them).", problem=text),
                msg("If this machine has an NVIDIA GPU, install the NVIDIA driver; `nvidia-smi` should then list "
                    "the GPU."),
            )
        ]
    fixes: dict[NvmlStatus, tuple[Level, str | None]] = {
        NvmlStatus.BINDINGS_MISSING: (Level.WARN, "pip install nvidia-ml-py"),
        NvmlStatus.DRIVER_NOT_LOADED: (
            Level.WARN,
            msg("Run `nvidia-smi` and check `dmesg | grep -i nvidia`; reinstall or rebuild the driver's kernel "
                "module (often needed after a kernel update)."),
        ),
        NvmlStatus.NO_PERMISSION: (
            Level.ERROR,
            msg("Give your user access to /dev/nvidia* (e.g. the video group), or run in a container started with "
                "GPU access."),
        ),
        NvmlStatus.DRIVER_MISMATCH: (Level.ERROR, msg("Reboot (or reload the nvidia kernel modules).")),
        NvmlStatus.ERROR: (Level.ERROR, None),
    }
    if nvml.status in fixes:
        level, fix = fixes[nvml.status]
        return [Finding(level, Check.NVML, msg("{x}.", x=text), fix)]
    driver = nvml.driver_version or "N/A"
    cuda = nvml.cuda_driver_version or "N/A"
    found = [Finding(Level.OK, Check.NVML, msg("NVIDIA driver {driver} (supports CUDA up to {cuda}).", driver=driver,
                                               cuda=cuda))]
    if not nvml.devices:
        found.append(
            Finding(
                Level.WARN,
                Check.GPUS,
                msg("The NVIDIA driver is installed but lists no GPU."),
                msg("Check that the GPU is seated and powered and that `nvidia-smi` lists it; in a container, start "
                    "it with GPU access (e.g. `--gpus all`)."),
            )
        )
    return found


def _torch_findings(tb: TorchBuild, nvml: NvmlSnapshot) -> list[Finding]:
    has_gpus = nvml.available and bool(nvml.devices)
    if not tb.installed:
        return [
            Finding(
                Level.ERROR,
                Check.TORCH,
                msg("PyTorch cannot be imported ({error}); gpuplan needs it to trace models.", error=tb.error),
                "pip install torch",
            )
        ]
    if tb.error:
        return [Finding(Level.WARN, Check.TORCH, f"{_build_name(tb)}: {tb.error}.")]
    command = "pip install torch --index-url https://download.pytorch.org/whl/cuXY"
    cuda_fix = (
        msg("Install a CUDA build: {command} with CUDA X.Y ≤ {cuda} (what the driver supports).", command=command,
            cuda=nvml.cuda_driver_version)
        if nvml.cuda_driver_version
        else msg("Install a CUDA build: {command}.", command=command)
    )
    if tb.hip and not tb.cuda:
        level = Level.WARN if has_gpus else Level.OK
        return [
            Finding(
                level,
                Check.TORCH,
                msg("{build} is a ROCm (HIP {hip}) build; it cannot use NVIDIA GPUs.", build=_build_name(tb),
                    hip=tb.hip),
                cuda_fix if has_gpus else None,
            )
        ]
    if not tb.cuda:
        if has_gpus:
            return [
                Finding(
                    Level.WARN,
                    Check.TORCH,
                    msg("{build} is a CPU-only build: it cannot use the {n} NVIDIA GPU(s) of this machine.",
                        build=_build_name(tb), n=len(nvml.devices)),
                    cuda_fix,
                )
            ]
        return [Finding(Level.OK, Check.TORCH, msg("{build} is a CPU-only build.", build=_build_name(tb)))]
    return [Finding(Level.OK, Check.TORCH, msg("{build} built with CUDA {cuda}.", build=_build_name(tb),
                                               cuda=tb.cuda))]


def _driver_finding(dc: DriverCheck, tb: TorchBuild, nvml: NvmlSnapshot) -> Finding:
    build = f"{_build_name(tb)} (CUDA {dc.build_cuda})"
    version = dc.driver_version or "N/A"
    have = (msg("driver {version} (supports CUDA up to {cuda})", version=version, cuda=nvml.cuda_driver_version)
            if nvml.cuda_driver_version else msg("driver {version}", version=version))
    need = f"≥ {dc.required_driver}" if dc.required_driver else f"≥ {dc.compat_floor}"
    if dc.verdict is DriverVerdict.OK:
        return Finding(Level.OK, Check.DRIVER, msg("The installed {have} is new enough for {build}.", have=have,
                                                   build=build))
    if dc.verdict is DriverVerdict.UNKNOWN:
        return Finding(
            Level.WARN,
            Check.DRIVER,
            msg("Cannot tell whether the installed {have} is new enough for {build}: the driver version or CUDA "
                "{cuda} is not in gpuplan's CUDA→driver table.", have=have, build=build, cuda=dc.build_cuda),
        )
    if dc.verdict is DriverVerdict.MINOR_COMPAT:
        return Finding(
            Level.WARN,
            Check.DRIVER,
            msg("The installed {have} is older than CUDA {cuda} wants ({need}); {build} runs through CUDA "
                "minor-version compatibility (driver ≥ {floor}), but kernels that need PTX JIT compilation can "
                "fail.", have=have, cuda=dc.build_cuda, need=need, build=build, floor=dc.compat_floor),
            msg("Update the NVIDIA driver to {need}.", need=need),
        )
    older = (
        msg("a PyTorch wheel built for CUDA ≤ {cuda}", cuda=nvml.cuda_driver_version)
        if nvml.cuda_driver_version
        else msg("a PyTorch wheel built for an older CUDA that this driver supports")
    )
    return Finding(
        Level.ERROR,
        Check.DRIVER,
        msg("The NVIDIA driver is too old for {build}: it needs {need}, the installed {have}. "
            "torch.cuda.is_available() will be False.", build=build, need=need, have=have),
        msg("Update the NVIDIA driver to {need}, or install {older} (a +cuXY variant your driver supports).",
            need=need, older=older),
    )


def _visible_devices_finding(host: HostInfo, nvml: NvmlSnapshot) -> Finding | None:
    cvd = host.cuda_visible_devices
    if cvd is None or not (nvml.available and nvml.devices):
        return None
    if cvd.strip() in ("", "-1") or cvd.strip().lower() in ("none", "nodevfiles", "void"):
        return Finding(
            Level.WARN,
            Check.VISIBLE_DEVICES,
            msg("CUDA_VISIBLE_DEVICES={value} hides every GPU from PyTorch.", value=repr(cvd)),
            msg("unset CUDA_VISIBLE_DEVICES (or list the GPUs to use, e.g. CUDA_VISIBLE_DEVICES=0)"),
        )
    return Finding(
        Level.OK, Check.VISIBLE_DEVICES, msg("CUDA_VISIBLE_DEVICES={value}: PyTorch sees only these GPUs.", value=cvd)
    )


def _kernel_fix(cc: tuple[int, int], tb: TorchBuild, advice: str | None) -> str:
    sm = "sm_{}{}".format(*cc)
    source = msg('build PyTorch from source with TORCH_CUDA_ARCH_LIST="{cc}"', cc=_cc_text(cc))
    if advice:
        return msg("{advice} — or {source}.", advice=advice, source=source)
    try:
        entries = parse_arch_list(list(tb.arch_list))
    except ValueError:
        entries = []
    oldest = min(((e.major, e.minor) for e in entries), default=None)
    if oldest is not None and cc < oldest:
        return msg("Install an older PyTorch release whose CUDA wheels include {sm}, or {source} using a CUDA "
                   "toolkit that can still target {sm}.", sm=sm, source=source)
    return msg("Install a PyTorch build (another release or +cuXY variant) whose arch list includes {sm}, or "
               "{source}.", sm=sm, source=source)


def _gpu_check(
    dev: NvmlDevice,
    tb: TorchBuild,
    lookup: CatalogLookup | None,
    install_advice: InstallAdvice | None,
) -> GpuCheck:
    label = f"GPU {dev.index}" + (f" ({dev.name})" if dev.name else "")
    match, gpu = match_catalog(dev.name, lookup, dev.memory_total_bytes)
    findings: list[Finding] = []
    if match.name is None and match.note and match.note.startswith(("not in", "ambiguous in")):
        findings.append(
            Finding(
                Level.WARN,
                Check.CATALOG,
                msg("{gpu} is {note}; fit and speed predictions need its specs.", gpu=label, note=match.note),
                msg("Describe the card with --gpu-spec FILE (run `gpuplan gpus` to list known GPUs)."),
                dev.index,
            )
        )
    cc, cc_source = dev.compute_capability, "nvml" if dev.compute_capability else None
    if cc is None and gpu is not None and gpu.cc_tuple is not None:
        cc, cc_source = gpu.cc_tuple, "catalog"

    if not tb.is_cuda_build:
        kernels = KernelSupport.NOT_APPLICABLE
    elif cc is None or not tb.arch_list:
        kernels = KernelSupport.UNKNOWN
        why = msg("compute capability unknown") if cc is None else msg("the build's arch list is unknown")
        findings.append(
            Finding(
                Level.WARN, Check.KERNELS, msg("{gpu}: cannot check torch kernels ({why}).", gpu=label, why=why),
                None, dev.index
            )
        )
    else:
        arch = list(tb.arch_list)
        sm = "sm_{}{}".format(*cc)
        have = " ".join(arch)
        if not binary_supports(arch, cc):
            kernels = KernelSupport.NO
            advice = None
            if install_advice is not None and gpu is not None:
                try:
                    advice = install_advice(gpu)
                except Exception:  # catalog advice is a bonus; the generic fix still applies
                    advice = None
            findings.append(
                Finding(
                    Level.ERROR,
                    Check.KERNELS,
                    msg("{gpu}: this build ({build}) has no kernels for {sm} (compute capability {cc}); it has "
                        "{have}. PyTorch will fail on this GPU with 'no kernel image is available for execution on "
                        "the device'.", gpu=label, build=_build_name(tb), sm=sm, cc=_cc_text(cc), have=have),
                    _kernel_fix(cc, tb, advice),
                    dev.index,
                )
            )
        elif not binary_supports([a for a in arch if not a.lower().startswith("compute_")], cc):
            kernels = KernelSupport.PTX_ONLY
            findings.append(
                Finding(
                    Level.WARN,
                    Check.KERNELS,
                    msg("{gpu}: this build has no {sm} kernels ({have}); it runs by JIT-compiling PTX, so the "
                        "first run is slow and some kernels may be missing or slower.", gpu=label, sm=sm, have=have),
                    msg("Install a PyTorch build whose arch list includes {sm}.", sm=sm),
                    dev.index,
                )
            )
        else:
            kernels = KernelSupport.YES
            findings.append(
                Finding(
                    Level.OK,
                    Check.KERNELS,
                    msg("{gpu}: the torch build has kernels for {sm}.", gpu=label, sm=sm),
                    None,
                    dev.index,
                )
            )
    return GpuCheck(dev, match, cc, cc_source, kernels, tuple(findings))


def check_all(
    host: HostInfo,
    tb: TorchBuild,
    nvml: NvmlSnapshot,
    *,
    catalog_lookup: CatalogLookup | None = None,
    install_advice: InstallAdvice | None = None,
) -> DoctorReport:
    """Check the three snapshots against each other (pure; no I/O beyond the catalog lookups)."""
    findings = _nvml_findings(nvml) + _torch_findings(tb, nvml)
    driver: DriverCheck | None = None
    if nvml.available and tb.cuda:
        driver = check_driver(tb.cuda, nvml.driver_version, host.system)
        findings.append(_driver_finding(driver, tb, nvml))
    vis = _visible_devices_finding(host, nvml)
    if vis is not None:
        findings.append(vis)
    gpus = tuple(_gpu_check(d, tb, catalog_lookup, install_advice) for d in nvml.devices)
    for g in gpus:
        findings.extend(g.findings)
    return DoctorReport(host, tb, nvml, driver, gpus, tuple(findings))


_DEFAULT: Any = object()  # "look it up" sentinel (None means "explicitly absent")


def collect_doctor(
    *,
    disk_path: str = ".",
    nvml_lib: NvmlLib | None = None,
    torch_build: TorchBuild | None = None,
    host: HostInfo | None = None,
    catalog_lookup: CatalogLookup | None = _DEFAULT,
    install_advice: InstallAdvice | None = _DEFAULT,
) -> DoctorReport:
    """Collect host, torch build and NVML snapshots and check them; never raises for a missing GPU.

    Args:
        disk_path: where to measure free disk (checkpoints, datasets); default the current directory.
        nvml_lib: NVML functions (default: the ``pynvml`` module); tests pass a fake.
        torch_build: a canned :class:`TorchBuild` instead of inspecting the installed torch.
        host: a canned :class:`HostInfo` instead of reading this machine.
        catalog_lookup: NVML name -> catalog GPU (default ``gpuplan.catalog.get_gpu`` when present;
            ``None`` disables matching, shown as N/A).
        install_advice: catalog GPU -> install advice text (default from
            ``gpuplan.catalog.compat_report`` when present; ``None`` uses the generic fix).

    Returns:
        A :class:`DoctorReport`; ``report.findings`` lists ok/warn/error findings with fixes.
    """
    if catalog_lookup is _DEFAULT:
        catalog_lookup = _default_catalog_lookup()
    if install_advice is _DEFAULT:
        install_advice = _default_install_advice()
    host = host if host is not None else collect_host(disk_path)
    tb = torch_build if torch_build is not None else collect_torch_build()
    nvml = query_nvml(nvml_lib)
    return check_all(host, tb, nvml, catalog_lookup=catalog_lookup, install_advice=install_advice)
