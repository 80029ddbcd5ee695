"""Thin NVML layer: one call, :func:`query_nvml`, returns a frozen :class:`NvmlSnapshot`.

Everything NVML can say "no" to becomes a value, never an exception:

* the library cannot be loaded (no NVIDIA driver installed) -> ``status=NvmlStatus.NO_LIBRARY``;
* the driver is installed but not loaded, permissions, driver/library mismatch -> their own status;
* one field of one device is not supported (old GPU, old driver, vGPU) -> that field is ``None``
  (rendered N/A) and ``unavailable[field]`` says why.

The NVML functions come from an object implementing :class:`NvmlLib` (by default the ``pynvml``
module of nvidia-ml-py), so tests pass a fake with canned device tables::

    >>> snap = query_nvml()            # on a machine without a driver
    >>> snap.status, snap.devices
    (<NvmlStatus.NO_LIBRARY: 'no_library'>, ())
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpuplan.i18n import msg

__all__ = [
    "NvmlDevice",
    "NvmlLib",
    "NvmlSnapshot",
    "NvmlStatus",
    "format_cuda_version",
    "query_nvml",
]


class NvmlStatus(enum.StrEnum):
    OK = "ok"
    BINDINGS_MISSING = "bindings_missing"  # the nvidia-ml-py package is not importable
    NO_LIBRARY = "no_library"  # libnvidia-ml not found: no NVIDIA driver installed
    DRIVER_NOT_LOADED = "driver_not_loaded"  # installed, but the kernel module is not loaded
    NO_PERMISSION = "no_permission"
    DRIVER_MISMATCH = "driver_mismatch"  # user-space library and kernel module versions differ
    ERROR = "error"  # any other NVML failure


# What each init failure means for the user, and what to do about it.
_STATUS_TEXT: dict[NvmlStatus, str] = {
    NvmlStatus.BINDINGS_MISSING: msg("the nvidia-ml-py package (module pynvml) is not installed, so NVIDIA GPUs "
                                     "cannot be queried"),
    NvmlStatus.NO_LIBRARY: msg("no NVIDIA driver found (the NVML library libnvidia-ml is not installed); no NVIDIA "
                               "GPU can be used on this machine"),
    NvmlStatus.DRIVER_NOT_LOADED: msg("the NVIDIA driver is installed but not loaded (no GPU present, or the kernel "
                                      "module failed to load)"),
    NvmlStatus.NO_PERMISSION: msg("no permission to talk to the NVIDIA driver"),
    NvmlStatus.DRIVER_MISMATCH: msg("the NVIDIA driver's kernel module and user-space library have different "
                                    "versions (usually after a driver update without reboot)"),
    NvmlStatus.ERROR: msg("NVML failed"),
}

# NVML error class name (pynvml builds one class per return code) -> status when nvmlInit fails.
_INIT_ERRORS: dict[str, NvmlStatus] = {
    "NVMLError_LibraryNotFound": NvmlStatus.NO_LIBRARY,
    "NVMLError_DriverNotLoaded": NvmlStatus.DRIVER_NOT_LOADED,
    "NVMLError_NoPermission": NvmlStatus.NO_PERMISSION,
    "NVMLError_LibRmVersionMismatch": NvmlStatus.DRIVER_MISMATCH,
}

# NVML error class name -> short reason shown next to an N/A field.
_FIELD_ERRORS: dict[str, str] = {
    "NVMLError_NotSupported": msg("not supported by this GPU/driver"),
    "NVMLError_FunctionNotFound": msg("not available in this driver version"),
    "NVMLError_NoPermission": msg("no permission"),
    "NVMLError_GpuIsLost": msg("GPU is lost (fell off the bus)"),
    "NVMLError_Unknown": msg("unknown NVML error"),
}


class NvmlLib(Protocol):
    """The part of ``pynvml`` this module uses (the fake in tests implements the same names)."""

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str | bytes: ...
    def nvmlSystemGetCudaDriverVersion(self) -> int: ...
    def nvmlDeviceGetCount(self) -> int: ...
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any: ...
    def nvmlDeviceGetName(self, handle: Any) -> str | bytes: ...
    def nvmlDeviceGetUUID(self, handle: Any) -> str | bytes: ...
    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]: ...
    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any: ...  # .total, .used, .free in bytes


@dataclass(frozen=True)
class NvmlDevice:
    """One GPU as NVML reports it. ``None`` = N/A; ``unavailable[field]`` gives the reason."""

    index: int
    name: str | None
    compute_capability: tuple[int, int] | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    uuid: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def cc_str(self) -> str | None:
        return None if self.compute_capability is None else "{}.{}".format(*self.compute_capability)


@dataclass(frozen=True)
class NvmlSnapshot:
    """Driver and GPUs at one moment. ``status != OK`` is a normal answer (no driver, no GPU)."""

    status: NvmlStatus
    message: str | None = None  # plain-words explanation when status != OK
    driver_version: str | None = None  # e.g. "550.54.14"
    cuda_driver_version: str | None = None  # newest CUDA the driver supports, e.g. "12.4"
    devices: tuple[NvmlDevice, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.status is NvmlStatus.OK


def format_cuda_version(v: int) -> str:
    """NVML/CUDA integer version (12040) -> "12.4"."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def _error_name(err: BaseException) -> str:
    """Name of the most specific NVMLError_* class in the error's MRO ("" if none)."""
    for cls in type(err).__mro__:
        if cls.__name__.startswith("NVMLError_"):
            return cls.__name__
    return ""


def _reason(err: BaseException) -> str:
    name = _error_name(err)
    if name in _FIELD_ERRORS:
        return _FIELD_ERRORS[name]
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _text(v: str | bytes) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _load_pynvml() -> NvmlLib | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml  # type: ignore[return-value]


def query_nvml(lib: NvmlLib | None = None) -> NvmlSnapshot:
    """Query driver and GPUs through NVML; never raises for NVML failures.

    Args:
        lib: object with the :class:`NvmlLib` functions; default is the ``pynvml`` module.

    Returns:
        An :class:`NvmlSnapshot`. ``status`` tells whether NVML could be used at all; device fields
        that NVML refused are ``None`` with the reason in ``device.unavailable``.
    """
    if lib is None:
        lib = _load_pynvml()
        if lib is None:
            return NvmlSnapshot(NvmlStatus.BINDINGS_MISSING, _STATUS_TEXT[NvmlStatus.BINDINGS_MISSING])
    try:
        lib.nvmlInit()
    except Exception as err:  # NVMLError subclasses, or OSError from a broken library
        status = _INIT_ERRORS.get(_error_name(err), NvmlStatus.ERROR)
        text = _STATUS_TEXT[status]
        if status is NvmlStatus.ERROR:
            text = msg("{problem}: {reason}", problem=text, reason=_reason(err))
        return NvmlSnapshot(status, text)
    try:
        return _query_initialised(lib)
    finally:
        with contextlib.suppress(Exception):  # best effort; the snapshot is already taken
            lib.nvmlShutdown()


def _query_initialised(lib: NvmlLib) -> NvmlSnapshot:
    unavailable: dict[str, str] = {}
    driver: str | None = None
    cuda: str | None = None
    try:
        driver = _text(lib.nvmlSystemGetDriverVersion()).strip()
    except Exception as err:
        unavailable["driver_version"] = _reason(err)
    try:
        cuda = format_cuda_version(int(lib.nvmlSystemGetCudaDriverVersion()))
    except Exception as err:
        unavailable["cuda_driver_version"] = _reason(err)
    try:
        count = int(lib.nvmlDeviceGetCount())
    except Exception as err:
        return NvmlSnapshot(
            NvmlStatus.ERROR,
            msg("NVML could not count the GPUs: {reason}", reason=_reason(err)),
            driver_version=driver,
            cuda_driver_version=cuda,
            unavailable=unavailable,
        )
    devices = tuple(_query_device(lib, i) for i in range(count))
    return NvmlSnapshot(NvmlStatus.OK, None, driver, cuda, devices, unavailable)


def _query_device(lib: NvmlLib, index: int) -> NvmlDevice:
    unavailable: dict[str, str] = {}
    try:
        handle = lib.nvmlDeviceGetHandleByIndex(index)
    except Exception as err:
        reason = _reason(err)
        for name in ("name", "compute_capability", "memory_total_bytes", "memory_used_bytes", "uuid"):
            unavailable[name] = reason
        return NvmlDevice(index, None, None, None, None, None, unavailable)

    def get(field_name: str, fn: Any) -> Any:
        try:
            return fn(handle)
        except Exception as err:
            unavailable[field_name] = _reason(err)
            return None

    raw_name = get("name", lib.nvmlDeviceGetName)
    raw_uuid = get("uuid", lib.nvmlDeviceGetUUID)
    raw_cc = get("compute_capability", lib.nvmlDeviceGetCudaComputeCapability)
    mem = get("memory", lib.nvmlDeviceGetMemoryInfo)
    if "memory" in unavailable:
        reason = unavailable.pop("memory")
        unavailable["memory_total_bytes"] = unavailable["memory_used_bytes"] = reason
    return NvmlDevice(
        index=index,
        name=None if raw_name is None else _text(raw_name).strip(),
        compute_capability=None if raw_cc is None else (int(raw_cc[0]), int(raw_cc[1])),
        memory_total_bytes=None if mem is None else int(mem.total),
        memory_used_bytes=None if mem is None else int(mem.used),
        uuid=None if raw_uuid is None else _text(raw_uuid),
        unavailable=unavailable,
    )
