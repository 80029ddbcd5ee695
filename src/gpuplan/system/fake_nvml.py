"""A fake NVML with canned device tables, implementing :class:`gpuplan.system.nvml.NvmlLib`.

For tests and demos (in the spirit of gpustat's mocked NVML tests). Any value in a table may be an
exception instance, which the matching NVML call raises::

    >>> import pynvml
    >>> from gpuplan.system.fake_nvml import FakeDevice, FakeNvml
    >>> from gpuplan.system.nvml import query_nvml
    >>> lib = FakeNvml(driver="418.67", cuda=10010,
    ...                devices=[FakeDevice("Tesla T4", (7, 5), 15 * 2**30, 0,
    ...                                    name_error=pynvml.NVMLError_NotSupported())])
    >>> query_nvml(lib).devices[0].unavailable
    {'name': 'not supported by this GPU/driver'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

__all__ = ["FakeDevice", "FakeNvml"]


@dataclass
class FakeDevice:
    name: str
    cc: tuple[int, int]
    memory_total: int
    memory_used: int
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    name_error: BaseException | None = None
    cc_error: BaseException | None = None
    memory_error: BaseException | None = None
    uuid_error: BaseException | None = None


@dataclass
class FakeNvml:
    """Canned NVML: ``init_error`` makes nvmlInit fail (e.g. ``NVMLError_LibraryNotFound()``)."""

    driver: str | BaseException = "550.54.14"
    cuda: int | BaseException = 12040
    devices: list[FakeDevice] = field(default_factory=list)
    init_error: BaseException | None = None
    count_error: BaseException | None = None
    initialised: bool = False
    shutdowns: int = 0

    @staticmethod
    def _value(v: Any) -> Any:
        if isinstance(v, BaseException):
            raise v
        return v

    def nvmlInit(self) -> None:
        self._value(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False
        self.shutdowns += 1

    def _check(self) -> None:
        if not self.initialised:
            raise RuntimeError("NVML used before nvmlInit")

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return str(self._value(self.driver))

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return int(self._value(self.cuda))

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        self._value(self.count_error)
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        self._check()
        return self.devices[index]

    def nvmlDeviceGetName(self, handle: FakeDevice) -> str:
        self._value(handle.name_error)
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeDevice) -> str:
        self._value(handle.uuid_error)
        return handle.uuid

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeDevice) -> tuple[int, int]:
        self._value(handle.cc_error)
        return handle.cc

    def nvmlDeviceGetMemoryInfo(self, handle: FakeDevice) -> SimpleNamespace:
        self._value(handle.memory_error)
        return SimpleNamespace(
            total=handle.memory_total, used=handle.memory_used, free=handle.memory_total - handle.memory_used
        )
