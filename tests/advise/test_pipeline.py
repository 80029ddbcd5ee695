"""Input-pipeline check: decode cores vs the GPU's appetite, dataset vs RAM, disk rate; the local benchmark."""

from __future__ import annotations

import pytest

from gpuplan.advise.pipeline import (
    DecodeRate,
    HostSpec,
    check_pipeline,
    host_from,
    image_input_size,
    measure_decode_rate,
)
from gpuplan.system.host import HostInfo

HOST = HostSpec(cpu_cores=8, ram_bytes=32 * 2**30, disk_bytes_per_second=500e6, source="given")


def test_enough_cores() -> None:
    chk = check_pipeline(900.0, HOST, DecodeRate(150.0, "given"))
    assert chk.workers == 7  # one core stays with the training process
    assert chk.cores_needed == 6 and chk.cpu_ok is True
    assert chk.decode_samples_per_second == pytest.approx(7 * 150.0)


def test_too_few_cores_says_the_gpu_waits() -> None:
    chk = check_pipeline(2000.0, HOST, DecodeRate(150.0, "given"))
    assert chk.cores_needed == 14 and chk.cpu_ok is False
    assert any("GPU will wait" in str(n) for n in chk.notes)


def test_dataset_in_ram_needs_no_disk_rate() -> None:
    chk = check_pipeline(900.0, HOST, DecodeRate(150.0, "given"), dataset_size=100_000, sample_bytes=110_000)
    assert chk.dataset_bytes == 11_000_000_000 and chk.fits_in_ram is True
    assert chk.disk_bytes_per_second_needed is None and chk.disk_ok is None


def test_dataset_larger_than_ram_is_read_every_epoch() -> None:
    # ImageNet-1k train set size, ~110 kB per JPEG (a user-given figure)
    chk = check_pipeline(900.0, HOST, DecodeRate(150.0, "given"), dataset_size=1_281_167, sample_bytes=110_000)
    assert chk.fits_in_ram is False
    assert chk.disk_bytes_per_second_needed == pytest.approx(900.0 * 110_000)
    assert chk.disk_ok is True  # 99 MB/s needed, 500 MB/s available
    slow = HostSpec(8, 32 * 2**30, 50e6, "given")
    chk = check_pipeline(900.0, slow, None, dataset_size=1_281_167, sample_bytes=110_000)
    assert chk.disk_ok is False and any("I/O-bound" in str(n) for n in chk.notes)


def test_unknowns_stay_unknown() -> None:
    chk = check_pipeline(900.0, HostSpec(None, None, None, "given"), None)
    assert chk.cpu_ok is None and chk.cores_needed is None and chk.fits_in_ram is None and chk.disk_ok is None
    texts = " ".join(str(n) for n in chk.notes)
    assert "--decode-rate" in texts and "--sample-bytes" in texts


def _local(cores: int | None, ram: int | None) -> HostInfo:
    return HostInfo("Linux", "Linux-6", "x86_64", "3.11", "cpu", cores, cores, ram, ram, "/", None, None)


def test_host_from_flags_and_local() -> None:
    h = host_from(_local(16, 64 * 2**30))
    assert (h.cpu_cores, h.ram_bytes, h.source) == (16, 64 * 2**30, "local")
    h = host_from(_local(16, 64 * 2**30), cpus=4, disk_mbps=200)
    assert (h.cpu_cores, h.ram_bytes, h.disk_bytes_per_second, h.source) == (4, 64 * 2**30, 200e6, "local + given")
    h = host_from(None, cpus=4, ram_gib=8)
    assert (h.cpu_cores, h.ram_bytes, h.source) == (4, 8 * 2**30, "given")


def test_image_input_size() -> None:
    assert image_input_size([(3, 224, 224)]) == (224, 224)
    assert image_input_size([(1, 28, 28)]) is None  # small images live in memory: no JPEG decode
    assert image_input_size([(128,)]) is None


def test_local_decode_benchmark_is_labelled() -> None:
    rate = measure_decode_rate((64, 64), seconds=0.05)
    assert rate is not None and rate.samples_per_second_per_core > 0
    assert rate.source.startswith("measured here")
