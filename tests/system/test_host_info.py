"""Host resources: CPU, RAM, free disk; unreadable values are None (N/A)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuplan.system.host import collect_host, cpu_model_name


def test_collect_host_reads_this_machine(tmp_path: Path) -> None:
    h = collect_host(tmp_path)
    assert h.cpu_cores_logical is not None and h.cpu_cores_logical >= 1
    assert h.ram_total_bytes is not None and h.ram_total_bytes > 0
    assert h.disk_free_bytes is not None and h.disk_total_bytes is not None
    assert 0 <= h.disk_free_bytes <= h.disk_total_bytes
    assert h.disk_path == str(tmp_path.resolve())


def test_missing_disk_path_is_na(tmp_path: Path) -> None:
    h = collect_host(tmp_path / "does-not-exist")
    assert h.disk_free_bytes is None and h.disk_total_bytes is None


def test_cpu_model_from_cpuinfo(tmp_path: Path) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n")
    assert cpu_model_name(f) == "Intel(R) Xeon(R) CPU @ 2.20GHz"


def test_cuda_visible_devices_is_captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert collect_host(tmp_path).cuda_visible_devices == "1"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert collect_host(tmp_path).cuda_visible_devices is None
