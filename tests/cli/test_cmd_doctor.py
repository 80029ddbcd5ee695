"""`gpuplan doctor` end to end: exit 0 whenever the check ran, 1 only when doctor itself fails."""

from __future__ import annotations

import json

import pynvml
import pytest

from gpuplan.cli.main import main
from gpuplan.system import nvml as nvml_mod
from gpuplan.system.fake_nvml import FakeDevice, FakeNvml


def test_doctor_on_this_machine_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real NVML, torch and host of the test machine (no driver here; a GPU box must pass too).
    assert main(["doctor", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gpuplan doctor") and "Host" in out and "PyTorch" in out and "Result:" in out
    snap = nvml_mod.query_nvml()
    if snap.status is nvml_mod.NvmlStatus.NO_LIBRARY:
        assert "not found (no NVIDIA driver installed)" in out and "normal answer" in out


def test_doctor_json_is_the_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["doctor", "--json", "--path", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"host", "torch", "nvml", "driver", "gpus", "findings", "summary"}
    assert data["host"]["disk_path"] == str(tmp_path)
    assert all(f["level"] in ("ok", "warn", "error") for f in data["findings"])


def test_doctor_with_mocked_gpus(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    lib = FakeNvml(
        driver="418.67",
        cuda=10010,
        devices=[
            FakeDevice("NVIDIA GeForce GTX 760", (3, 0), 2 * 2**30, 0),
            FakeDevice("Tesla T4", (7, 5), 15 * 2**30, 0, memory_error=pynvml.NVMLError_NotSupported()),
        ],
    )
    monkeypatch.setattr(nvml_mod, "_load_pynvml", lambda: lib)
    assert main(["doctor", "--no-color"]) == 0  # errors found, but the check ran: exit 0
    out = capsys.readouterr().out
    assert "GPU 0: NVIDIA GeForce GTX 760" in out and "GPU 1: Tesla T4" in out
    assert "N/A (not supported by this GPU/driver)" in out


def test_doctor_failure_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import gpuplan.system.doctor as doctor

    def boom(**kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(doctor, "collect_doctor", boom)
    assert main(["doctor"]) == 1
    assert "doctor failed: RuntimeError: simulated bug" in capsys.readouterr().err
