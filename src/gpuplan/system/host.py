"""Host resources that bound a training run: CPU cores (data loading), RAM, free disk."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostInfo", "collect_host", "cpu_model_name"]


@dataclass(frozen=True)
class HostInfo:
    """The machine doctor runs on. ``None`` = N/A (the value could not be read)."""

    system: str  # platform.system(): "Linux", "Windows", "Darwin"
    os: str  # platform.platform(terse=True), e.g. "Linux-6.8.0"
    machine: str  # "x86_64", "aarch64", "AMD64"
    python: str  # "3.11.9"
    cpu_model: str | None
    cpu_cores_physical: int | None
    cpu_cores_logical: int | None
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    disk_path: str
    disk_total_bytes: int | None
    disk_free_bytes: int | None
    cuda_visible_devices: str | None = None  # the env var as set, None when unset


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """CPU model string: /proc/cpuinfo "model name" on Linux, platform.processor() elsewhere."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "Model", "Hardware"):
                return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def collect_host(disk_path: str | os.PathLike[str] = ".") -> HostInfo:
    """Read CPU, RAM and free disk at ``disk_path``. Never raises; unknown values are ``None``."""
    physical = logical = ram_total = ram_avail = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        logical = psutil.cpu_count(logical=True)
        vm = psutil.virtual_memory()
        ram_total, ram_avail = int(vm.total), int(vm.available)
    except Exception:  # psutil missing or unsupported platform
        logical = os.cpu_count()
    path = Path(disk_path).expanduser()
    try:
        resolved = str(path.resolve())
        usage = shutil.disk_usage(resolved)
        disk_total, disk_free = int(usage.total), int(usage.free)
    except OSError:
        resolved, disk_total, disk_free = str(path), None, None
    return HostInfo(
        system=platform.system(),
        os=platform.platform(terse=True),
        machine=platform.machine(),
        python=platform.python_version(),
        cpu_model=cpu_model_name(),
        cpu_cores_physical=physical,
        cpu_cores_logical=logical,
        ram_total_bytes=ram_total,
        ram_available_bytes=ram_avail,
        disk_path=resolved,
        disk_total_bytes=disk_total,
        disk_free_bytes=disk_free,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
