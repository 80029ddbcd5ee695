"""The NVML layer against canned tables: every NVML "no" becomes a value, never an exception."""

from __future__ import annotations

import pynvml

from gpuplan.system.fake_nvml import FakeDevice, FakeNvml
from gpuplan.system.nvml import NvmlStatus, format_cuda_version, query_nvml

GiB = 2**30


def test_two_gpus_recent_driver() -> None:
    lib = FakeNvml(
        driver="580.95.05",
        cuda=13000,
        devices=[
            FakeDevice("NVIDIA GeForce GTX 760", (3, 0), 2 * GiB, 100 * 2**20),
            FakeDevice("NVIDIA GeForce RTX 3060", (8, 6), 12 * GiB, GiB),
        ],
    )
    snap = query_nvml(lib)
    assert snap.status is NvmlStatus.OK and snap.available
    assert (snap.driver_version, snap.cuda_driver_version) == ("580.95.05", "13.0")
    assert [d.name for d in snap.devices] == ["NVIDIA GeForce GTX 760", "NVIDIA GeForce RTX 3060"]
    assert snap.devices[1].compute_capability == (8, 6)
    assert snap.devices[1].cc_str == "8.6"
    assert snap.devices[0].memory_total_bytes == 2 * GiB
    assert snap.devices[0].unavailable == {}
    assert lib.shutdowns == 1 and not lib.initialised


def test_library_not_found_is_a_normal_answer() -> None:
    snap = query_nvml(FakeNvml(init_error=pynvml.NVMLError_LibraryNotFound()))
    assert snap.status is NvmlStatus.NO_LIBRARY
    assert snap.devices == () and "no NVIDIA driver" in (snap.message or "")


def test_init_failures_map_to_status() -> None:
    cases: list[tuple[BaseException, NvmlStatus]] = [  # NVMLError instances are unhashable
        (pynvml.NVMLError_DriverNotLoaded(), NvmlStatus.DRIVER_NOT_LOADED),
        (pynvml.NVMLError_NoPermission(), NvmlStatus.NO_PERMISSION),
        (pynvml.NVMLError_LibRmVersionMismatch(), NvmlStatus.DRIVER_MISMATCH),
        (pynvml.NVMLError_Unknown(), NvmlStatus.ERROR),
        (OSError("libnvidia-ml.so.1: cannot open shared object file"), NvmlStatus.ERROR),
    ]
    for err, status in cases:
        lib = FakeNvml(init_error=err)
        snap = query_nvml(lib)
        assert snap.status is status, err
        assert lib.shutdowns == 0  # never shut down what did not start


def test_missing_fields_become_na_with_reason() -> None:
    lib = FakeNvml(
        driver=pynvml.NVMLError_NotSupported(),
        cuda=pynvml.NVMLError_FunctionNotFound(),
        devices=[
            FakeDevice(
                "x",
                (7, 5),
                0,
                0,
                name_error=pynvml.NVMLError_NotSupported(),
                memory_error=pynvml.NVMLError_NotSupported(),
                uuid_error=pynvml.NVMLError_NoPermission(),
            ),
            FakeDevice("Tesla K80", (3, 7), 12 * GiB, 0, cc_error=pynvml.NVMLError_GpuIsLost()),
        ],
    )
    snap = query_nvml(lib)
    assert snap.status is NvmlStatus.OK
    assert snap.driver_version is None and snap.cuda_driver_version is None
    assert snap.unavailable == {
        "driver_version": "not supported by this GPU/driver",
        "cuda_driver_version": "not available in this driver version",
    }
    d0, d1 = snap.devices
    assert d0.name is None and d0.memory_total_bytes is None and d0.memory_used_bytes is None
    assert d0.compute_capability == (7, 5)
    assert d0.unavailable["memory_total_bytes"] == "not supported by this GPU/driver"
    assert d0.unavailable["uuid"] == "no permission"
    assert d1.compute_capability is None and d1.cc_str is None
    assert d1.unavailable == {"compute_capability": "GPU is lost (fell off the bus)"}


def test_device_count_failure_is_an_error_status() -> None:
    snap = query_nvml(FakeNvml(count_error=pynvml.NVMLError_Unknown()))
    assert snap.status is NvmlStatus.ERROR and snap.driver_version == "550.54.14"
    assert "count" in (snap.message or "")


def test_bytes_from_old_bindings_are_decoded() -> None:
    class BytesNvml(FakeNvml):
        def nvmlSystemGetDriverVersion(self) -> bytes:  # type: ignore[override]
            return b"418.67"

        def nvmlDeviceGetName(self, handle: FakeDevice) -> bytes:  # type: ignore[override]
            return handle.name.encode()

    snap = query_nvml(BytesNvml(devices=[FakeDevice("Tesla T4", (7, 5), 15 * GiB, 0)]))
    assert snap.driver_version == "418.67" and snap.devices[0].name == "Tesla T4"


def test_format_cuda_version() -> None:
    assert format_cuda_version(12040) == "12.4"
    assert format_cuda_version(10010) == "10.1"
    assert format_cuda_version(13000) == "13.0"


def test_real_machine_without_driver_does_not_raise() -> None:
    snap = query_nvml()  # whatever this machine has: never an exception
    assert isinstance(snap.status, NvmlStatus)
