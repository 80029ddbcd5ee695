"""`gpuplan doctor` checks on canned machines: mocked NVML tables, canned torch build and host.

Scenarios: (a) GTX 760 + RTX 3060 on a recent driver with a torch build without sm_30;
(b) driver 418.x with a cu130 build; (c) NVML fields not supported; (d) no NVML library.
Golden text for (a) and (d) lives in tests/golden/doctor/; regenerate with GPUPLAN_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pynvml
import pytest

from gpuplan.catalog.types import GPU
from gpuplan.errors import UnknownGPUError
from gpuplan.render.doctor_text import render_doctor_text
from gpuplan.render.jsonout import dumps
from gpuplan.system.doctor import (
    Check,
    DoctorReport,
    Finding,
    KernelSupport,
    Level,
    collect_doctor,
    match_catalog,
)
from gpuplan.system.fake_nvml import FakeDevice, FakeNvml
from gpuplan.system.host import HostInfo
from gpuplan.system.nvml import NvmlStatus
from gpuplan.system.torchinfo import TorchBuild

GiB, MiB = 2**30, 2**20
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "doctor"

HOST = HostInfo(
    system="Linux",
    os="Linux-6.8.0",
    machine="x86_64",
    python="3.11.7",
    cpu_model="AMD EPYC 7B13",
    cpu_cores_physical=8,
    cpu_cores_logical=16,
    ram_total_bytes=64 * GiB,
    ram_available_bytes=48 * GiB,
    disk_path="/data",
    disk_total_bytes=1000 * GiB,
    disk_free_bytes=250 * GiB,
)
TORCH_CU130 = TorchBuild(
    installed=True,
    version="2.14.1+cu130",
    cuda="13.0",
    arch_list=("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
    cudnn="9.24.0",
)

CATALOG = {
    "GeForce GTX 760": GPU("GeForce GTX 760", "NVIDIA", "Kepler", "3.0", memory_bytes=2 * GiB),
    "GeForce RTX 3060": GPU("GeForce RTX 3060", "NVIDIA", "Ampere", "8.6", memory_bytes=12 * GiB),
    "Tesla T4": GPU("Tesla T4", "NVIDIA", "Turing", "7.5", memory_bytes=16 * GiB),
}


def catalog_lookup(query: str) -> GPU:
    """Stand-in for gpuplan.catalog.get_gpu: exact names only."""
    if query in CATALOG:
        return CATALOG[query]
    raise UnknownGPUError(query, [])


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/doctor/<name>.txt (local helper until tests/conftest.py has one)."""
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get("GPUPLAN_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"golden file {path} missing; create it with GPUPLAN_UPDATE_GOLDEN=1 and review it")
    assert text == path.read_text(encoding="utf-8"), (
        f"golden {path} differs (GPUPLAN_UPDATE_GOLDEN=1 rewrites)"
    )


def run(lib: FakeNvml, tb: TorchBuild = TORCH_CU130, host: HostInfo = HOST, **kw: object) -> DoctorReport:
    kw.setdefault("catalog_lookup", catalog_lookup)
    kw.setdefault("install_advice", None)
    return collect_doctor(nvml_lib=lib, torch_build=tb, host=host, **kw)  # type: ignore[arg-type]


def by_check(report: DoctorReport, check: Check, gpu: int | None = None) -> list[Finding]:
    return [f for f in report.findings if f.check is check and f.gpu_index == gpu]


def two_gpus() -> FakeNvml:
    return FakeNvml(
        driver="580.95.05",
        cuda=13000,
        devices=[
            FakeDevice("NVIDIA GeForce GTX 760", (3, 0), 2 * GiB, 118 * MiB),
            FakeDevice("NVIDIA GeForce RTX 3060", (8, 6), 12 * GiB, 1536 * MiB),
        ],
    )


# (a) ------------------------------------------------------------------------------------------


def test_a_gtx760_has_no_kernels_in_cu130_build() -> None:
    r = run(two_gpus())
    g760, g3060 = r.gpus
    assert g760.catalog.name == "GeForce GTX 760" and g760.catalog.architecture == "Kepler"
    assert g760.kernels is KernelSupport.NO and g760.sm == "sm_30"
    assert g3060.kernels is KernelSupport.YES
    (err,) = by_check(r, Check.KERNELS, 0)
    assert err.level is Level.ERROR
    assert "no kernels for sm_30" in err.message
    assert err.fix and 'TORCH_CUDA_ARCH_LIST="3.0"' in err.fix and "older PyTorch release" in err.fix
    assert by_check(r, Check.KERNELS, 1)[0].level is Level.OK
    assert by_check(r, Check.DRIVER)[0].level is Level.OK
    assert r.worst is Level.ERROR and r.count(Level.ERROR) == 1


def test_a_golden_text() -> None:
    golden("two_gpus_no_sm30", render_doctor_text(run(two_gpus())))


def test_a_catalog_install_advice_is_used() -> None:
    def advice(gpu: GPU) -> str:
        return f"Install torch==0.3.0 with cu90 wheels (the last release with sm_30 for the {gpu.name})."

    r = run(two_gpus(), install_advice=advice)
    fix = by_check(r, Check.KERNELS, 0)[0].fix or ""
    assert fix.startswith("Install torch==0.3.0 with cu90 wheels") and "TORCH_CUDA_ARCH_LIST" in fix


def test_a_json_is_the_same_snapshot() -> None:
    r = run(two_gpus())
    data = json.loads(dumps(r))
    assert data["nvml"]["status"] == "ok"
    assert data["gpus"][0]["compute_capability"] == [3, 0]
    assert data["gpus"][0]["kernels"] == "no"
    assert data["summary"] == {"worst": "error", "ok": r.count(Level.OK), "warn": 0, "error": 1}
    assert [f["level"] for f in data["findings"]] == [f.level.value for f in r.findings]


# (b) ------------------------------------------------------------------------------------------


def test_b_old_driver_418_with_cu130_build() -> None:
    lib = FakeNvml(driver="418.67", cuda=10010, devices=[FakeDevice("Tesla T4", (7, 5), 15 * GiB, 0)])
    r = run(lib)
    (f,) = by_check(r, Check.DRIVER)
    assert f.level is Level.ERROR
    assert "too old" in f.message and "580.65.06" in f.message and "418.67" in f.message
    assert f.fix and "≥ 580.65.06" in f.fix and "CUDA ≤ 10.1" in f.fix
    assert r.driver is not None and r.driver.required_driver == "580.65.06"
    assert r.gpus[0].kernels is KernelSupport.YES  # the GPU itself is fine; the driver is not
    assert "too old" in render_doctor_text(r)


def test_b_driver_in_minor_compat_range_warns() -> None:
    tb = TorchBuild(
        True, "2.8.0+cu128", "12.8", arch_list=("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
    )
    lib = FakeNvml(driver="560.35.03", cuda=12060, devices=[FakeDevice("Tesla T4", (7, 5), 15 * GiB, 0)])
    (f,) = by_check(run(lib, tb), Check.DRIVER)
    assert f.level is Level.WARN and "minor-version compatibility" in f.message


# (c) ------------------------------------------------------------------------------------------


def test_c_missing_fields_are_na_not_a_crash() -> None:
    lib = FakeNvml(
        driver="550.54.14",
        cuda=pynvml.NVMLError_FunctionNotFound(),
        devices=[
            FakeDevice(
                "?",
                (8, 0),
                0,
                0,
                name_error=pynvml.NVMLError_NotSupported(),
                memory_error=pynvml.NVMLError_NotSupported(),
            ),
            FakeDevice("Tesla T4", (7, 5), 15 * GiB, 0, cc_error=pynvml.NVMLError_NotSupported()),
            FakeDevice("GRID A100-4C", (0, 0), 4 * GiB, 0, cc_error=pynvml.NVMLError_NotSupported()),
        ],
    )
    tb = TorchBuild(
        True, "2.4.1+cu124", "12.4", arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
    )
    r = run(lib, tb)
    g0, g1, g2 = r.gpus
    assert g0.device.name is None and g0.catalog.name is None and g0.catalog.note == "device name unavailable"
    assert g0.kernels is KernelSupport.YES  # CC from NVML still works
    assert (g1.compute_capability, g1.cc_source) == ((7, 5), "catalog")  # NVML refused, catalog knew
    assert g2.compute_capability is None and g2.kernels is KernelSupport.UNKNOWN
    assert by_check(r, Check.KERNELS, 2)[0].level is Level.WARN
    assert by_check(r, Check.CATALOG, 2)[0].level is Level.WARN  # vGPU profile not in catalog
    assert by_check(r, Check.DRIVER)[0].level is Level.OK
    text = render_doctor_text(r)
    assert "GPU 0: N/A (not supported by this GPU/driver)" in text
    assert "memory         N/A (not supported by this GPU/driver)" in text
    assert "max CUDA       N/A (not available in this driver version)" in text
    assert "7.5 (sm_75), from the catalog (NVML: N/A)" in text
    json.loads(dumps(r))


def test_c_catalog_missing_entirely_is_na() -> None:
    r = run(two_gpus(), catalog_lookup=None)
    assert all(g.catalog.name is None and g.catalog.note == "catalog not available" for g in r.gpus)
    assert not by_check(r, Check.CATALOG, 0)  # no catalog = no finding, just N/A
    assert r.gpus[0].kernels is KernelSupport.NO  # NVML's CC is enough for the kernel check


# (d) ------------------------------------------------------------------------------------------


def no_library() -> FakeNvml:
    return FakeNvml(init_error=pynvml.NVMLError_LibraryNotFound())


def test_d_no_library_is_a_normal_answer() -> None:
    r = run(no_library())
    assert r.nvml.status is NvmlStatus.NO_LIBRARY and r.gpus == () and r.driver is None
    assert [f.level for f in r.findings] == [Level.WARN, Level.OK]
    assert "normal answer" in r.findings[0].message
    assert r.count(Level.ERROR) == 0


def test_d_golden_text() -> None:
    golden("no_driver", render_doctor_text(run(no_library())))


# other situations --------------------------------------------------------------------------


def test_cpu_only_torch_with_gpus() -> None:
    r = run(two_gpus(), TorchBuild(True, "2.13.0+cpu"))
    (f,) = by_check(r, Check.TORCH)
    assert f.level is Level.WARN and "CPU-only" in f.message and "CUDA X.Y ≤ 13.0" in (f.fix or "")
    assert all(g.kernels is KernelSupport.NOT_APPLICABLE for g in r.gpus)
    assert r.driver is None


def test_torch_missing() -> None:
    r = run(no_library(), TorchBuild(False, error="ModuleNotFoundError: No module named 'torch'"))
    (f,) = by_check(r, Check.TORCH)
    assert f.level is Level.ERROR and f.fix == "pip install torch"
    assert "not importable" in render_doctor_text(r)


def test_ptx_only_support_warns() -> None:
    tb = TorchBuild(
        True, "1.13.1+cu117", "11.7", arch_list=("sm_37", "sm_50", "sm_60", "sm_70", "compute_70")
    )
    lib = FakeNvml(driver="550.54.14", cuda=12040, devices=[FakeDevice("Tesla T4", (7, 5), 15 * GiB, 0)])
    r = run(lib, tb)
    assert r.gpus[0].kernels is KernelSupport.YES  # sm_70 SASS covers 7.5
    lib = FakeNvml(
        driver="550.54.14", cuda=12040, devices=[FakeDevice("NVIDIA A100-SXM4-80GB", (8, 0), 80 * GiB, 0)]
    )
    r = run(lib, tb)
    assert r.gpus[0].kernels is KernelSupport.PTX_ONLY
    assert by_check(r, Check.KERNELS, 0)[0].level is Level.WARN


def test_no_gpu_with_loaded_driver() -> None:
    r = run(FakeNvml(devices=[]))
    assert by_check(r, Check.GPUS)[0].level is Level.WARN


def test_driver_mismatch_is_an_error_with_fix() -> None:
    r = run(FakeNvml(init_error=pynvml.NVMLError_LibRmVersionMismatch()))
    (f,) = by_check(r, Check.NVML)
    assert f.level is Level.ERROR and f.fix and "Reboot" in f.fix


def test_cuda_visible_devices_empty_hides_gpus() -> None:
    host = HostInfo(**{**HOST.__dict__, "cuda_visible_devices": ""})
    (f,) = by_check(run(two_gpus(), host=host), Check.VISIBLE_DEVICES)
    assert f.level is Level.WARN


def test_match_catalog_strips_nvidia_prefix_and_handles_failures() -> None:
    assert match_catalog("NVIDIA GeForce RTX 3060", catalog_lookup)[0].name == "GeForce RTX 3060"
    assert match_catalog("Tesla T4", catalog_lookup)[0].name == "Tesla T4"
    assert match_catalog("NVIDIA Mystery 9000", catalog_lookup)[0].note == "not in the gpuplan catalog"

    def broken(query: str) -> GPU:
        raise RuntimeError("catalog bug")

    assert "catalog lookup failed" in (match_catalog("Tesla T4", broken)[0].note or "")


@pytest.mark.parametrize("lib", [two_gpus, no_library])
def test_render_never_fails(lib: object) -> None:
    text = render_doctor_text(run(lib()))  # type: ignore[operator]
    assert text.startswith("gpuplan doctor\n") and text.endswith("\n")


def test_ambiguous_name_is_narrowed_by_memory() -> None:
    variants = {
        "GeForce RTX 3060 12GB": GPU(
            "GeForce RTX 3060 12GB", "NVIDIA", "Ampere", "8.6", memory_bytes=12 * GiB
        ),
        "GeForce RTX 3060 8GB": GPU("GeForce RTX 3060 8GB", "NVIDIA", "Ampere", "8.6", memory_bytes=8 * GiB),
        "GeForce RTX 3060 Ti": GPU("GeForce RTX 3060 Ti", "NVIDIA", "Ampere", "8.6", memory_bytes=8 * GiB),
    }

    def lookup(query: str) -> GPU:
        if query in variants:
            return variants[query]
        if "3060" in query:
            raise UnknownGPUError(query, list(variants), ambiguous=True)
        raise UnknownGPUError(query, [])

    name = "NVIDIA GeForce RTX 3060"
    assert match_catalog(name, lookup, 12288 * MiB)[0].name == "GeForce RTX 3060 12GB"
    assert match_catalog(name, lookup, 7982 * MiB)[0].name == "GeForce RTX 3060 8GB"  # "Ti" not in the name
    assert match_catalog("NVIDIA GeForce RTX 3060 Ti", lookup, 8 * GiB)[0].name == "GeForce RTX 3060 Ti"
    note = match_catalog(name, lookup, None)[0].note or ""
    assert note.startswith("ambiguous in the gpuplan catalog")


def test_advice_text_from_a_catalog_compat_report() -> None:
    from types import SimpleNamespace

    from gpuplan.system.doctor import _advice_text

    with_cmd = SimpleNamespace(
        install=SimpleNamespace(
            command="pip install torch==2.7.1 --index-url https://download.pytorch.org/whl/cu118",
            torch_version="2.7.1",
            explanation="PyTorch 2.7.1 (cu118) is the newest official build with kernels for sm_37.",
            options=("CPU only: ...",),
        )
    )
    assert _advice_text(with_cmd) == (
        "PyTorch 2.7.1 (cu118) is the newest official build with kernels for sm_37. "
        "Run: pip install torch==2.7.1 --index-url https://download.pytorch.org/whl/cu118"
    )
    none = SimpleNamespace(
        install=SimpleNamespace(
            command=None, torch_version=None, explanation="No official wheel.", options=("Build from source",)
        )
    )
    assert _advice_text(none) == "No official wheel. Build from source."
    assert _advice_text({"install": "pip install torch==1.0"}) == "pip install torch==1.0"
    assert _advice_text(object()) is None


def test_real_catalog_when_present() -> None:
    from gpuplan.system.doctor import _default_catalog_lookup, _default_install_advice

    lookup, advice = _default_catalog_lookup(), _default_install_advice()
    if lookup is None or advice is None:
        pytest.skip("gpuplan.catalog get_gpu/compat_report not there yet")
    match, gpu = match_catalog("NVIDIA GeForce GTX 760", lookup, 2 * GiB)
    assert gpu is not None and gpu.compute_capability == "3.0", match
    assert match_catalog("Tesla T4", lookup, 15 * GiB)[1] is not None
    r = run(two_gpus(), catalog_lookup=lookup, install_advice=advice)
    fix = by_check(r, Check.KERNELS, 0)[0].fix or ""
    assert "sm_30" in fix and "TORCH_CUDA_ARCH_LIST" in fix
