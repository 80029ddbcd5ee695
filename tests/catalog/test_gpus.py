"""Catalog schema and units: every row sourced, values in plausible ranges, rates consistent."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from gpuplan.catalog import load_catalog
from gpuplan.catalog._data import read_csv
from gpuplan.catalog.gpus import catalog_sources
from gpuplan.catalog.types import GPU

SHARED_SPECS = Path("/work/shared/data/gpu-specs.csv")
CATALOG = load_catalog()
NVIDIA = [g for g in CATALOG if g.vendor == "NVIDIA"]

# FP32 TFLOPS != 2 x cores x boost clock (within 5%), with the reason.
FP32_EXCEPTIONS = {
    # AMD CDNA 3: the catalog keeps AMD's packed-FP32 datasheet figure (EPOCH), 2x the lanes x clock rate
    # (TPU's unpacked 81.72 for MI300X was not used).
    "Instinct MI300X": "AMD packed FP32 (EPOCH/AMD datasheet): 2x 2 x lanes x clock",
    "Instinct MI325X": "AMD packed FP32 (EPOCH/AMD), as MI300X",
    # Conflict kept visible: 62.08 TFLOPS is 83% of 2 x 18944 x 1965 MHz (74.45, TPU's own FP32 figure, which
    # the shared row calls a per-die/placeholder entry). Neither is confirmed by an NVIDIA document.
    "B200": "fp32 62.08 vs 74.45 from TPU cores x clock: unresolved source conflict (row notes)",
}
NAME_COUNT_SHARED = 168


def test_catalog_keeps_every_shared_row() -> None:
    shared = [r["name"] for r in csv.DictReader(SHARED_SPECS.open())] if SHARED_SPECS.exists() else []
    names = {g.name for g in CATALOG}
    renamed = {"Instinct MI250X": "Instinct MI250X (per GCD)"}
    missing = [n for n in shared if renamed.get(n, n) not in names]
    assert not missing
    assert len(CATALOG) >= NAME_COUNT_SHARED


def test_names_unique() -> None:
    names = [g.name for g in CATALOG]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("gpu", CATALOG, ids=lambda g: g.name)
def test_row_schema_and_sources(gpu: GPU) -> None:
    assert gpu.vendor in {"NVIDIA", "AMD", "Intel", "Apple"}
    assert gpu.segment in {"consumer", "laptop", "workstation", "datacenter", "apple"}
    assert gpu.sources, "every row keeps its source"
    assert all(s.strip() for s in gpu.sources)
    if gpu.vendor == "NVIDIA":
        assert gpu.compute_capability and re.fullmatch(r"\d{1,2}\.\d", gpu.compute_capability)
        assert gpu.gfx_target is None
    else:
        assert gpu.compute_capability is None
    if gpu.vendor == "AMD":
        assert gpu.gfx_target and gpu.gfx_target.startswith("gfx")
    if gpu.launch_date:
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", gpu.launch_date)
    assert gpu.devices_per_board >= 1
    if gpu.devices_per_board > 1:
        assert gpu.board


@pytest.mark.parametrize("gpu", CATALOG, ids=lambda g: g.name)
def test_units_plausible(gpu: GPU) -> None:
    def within(x: float | None, lo: float, hi: float) -> bool:
        return x is None or lo <= x <= hi

    assert gpu.memory_bytes is None or 2**30 <= gpu.memory_bytes <= 300 * 2**30
    assert within(gpu.bandwidth_gbs, 25, 10_000)
    assert within(gpu.fp32_tflops, 0.5, 200)
    assert within(gpu.boost_clock_mhz, 500, 3500)
    assert within(gpu.tdp_w, 10, 1500)
    assert within(gpu.launch_price_usd, 50, 60_000)
    assert gpu.sms is None or 1 <= gpu.sms <= 400
    for rate in (gpu.tensor_fp16_tflops, gpu.tensor_fp16_fp16acc_tflops, gpu.tf32_tflops, gpu.fp8_tflops):
        assert within(rate, 1, 10_000)
    # FP32-accumulate tensor rate never exceeds the FP16-accumulate rate; GeForce halves it.
    if gpu.tensor_fp16_tflops and gpu.tensor_fp16_fp16acc_tflops:
        assert gpu.tensor_fp16_tflops <= gpu.tensor_fp16_fp16acc_tflops * 1.001
    if gpu.tensor_fp16_tflops is not None or gpu.tensor_fp16_fp16acc_tflops is not None:
        assert gpu.tensor_cores


def fp32_from_cores(gpu: GPU) -> float | None:
    """Peak FP32 = 2 FLOP (one FMA) x FP32 lanes x boost clock (TFLOPS)."""
    if gpu.cuda_cores is None or gpu.boost_clock_mhz is None:
        return None
    return 2 * gpu.cuda_cores * gpu.boost_clock_mhz * 1e6 / 1e12


@pytest.mark.parametrize("gpu", [g for g in CATALOG if g.fp32_tflops and fp32_from_cores(g)], ids=lambda g: g.name)
def test_fp32_consistent_with_cores_and_clock(gpu: GPU) -> None:
    expected = fp32_from_cores(gpu)
    assert expected is not None and gpu.fp32_tflops is not None
    ratio = gpu.fp32_tflops / expected
    if gpu.name in FP32_EXCEPTIONS:
        return
    if gpu.vendor == "AMD" and gpu.architecture.startswith(("RDNA 3", "RDNA 4")):
        assert ratio == pytest.approx(2, rel=0.05), "RDNA3/4 FP32 is the dual-issue peak (TPU)"
        return
    assert ratio == pytest.approx(1, rel=0.05)


def test_exceptions_are_real_exceptions() -> None:
    names = {g.name for g in CATALOG}
    assert set(FP32_EXCEPTIONS) <= names


def test_geforce_fp32_accumulate_is_half_rate() -> None:
    """compat.md Part 1: GeForce Turing/Ampere/Ada/Blackwell run FP16-with-FP32-accumulate at half rate."""
    for g in CATALOG:
        if g.segment in {"consumer", "laptop"} and g.vendor == "NVIDIA" and g.tensor_fp16_tflops \
                and g.tensor_fp16_fp16acc_tflops:
            assert g.tensor_fp16_tflops == pytest.approx(g.tensor_fp16_fp16acc_tflops / 2, rel=0.02), g.name


def test_issue_example_gtx760() -> None:
    g = next(g for g in CATALOG if g.name == "GeForce GTX 760")
    assert (g.architecture, g.compute_capability, g.cuda_cores, g.bus_width_bits) == ("Kepler", "3.0", 1152, 256)
    assert g.memory_bytes == 2 * 2**30 and g.memory_type == "GDDR5"
    assert g.fp16_tflops is None and not g.tensor_cores


def test_multi_device_boards_are_per_device() -> None:
    by_name = {g.name: g for g in CATALOG}
    assert by_name["Tesla K80 (per GPU)"].devices_per_board == 2
    assert by_name["Tesla K80 (per GPU)"].memory_bytes == 12 * 2**30
    assert by_name["Tesla M60 (per GPU)"].devices_per_board == 2
    assert by_name["GeForce GTX 690 (per GPU)"].devices_per_board == 2
    assert by_name["A16 (per GPU)"].devices_per_board == 4
    mi = by_name["Instinct MI250X (per GCD)"]
    assert (mi.devices_per_board, mi.memory_bytes, mi.sms) == (2, 64 * 2**30, 110)
    assert mi.bandwidth_gbs == pytest.approx(3280 / 2)
    assert mi.board and "MI250X" in mi.board


def test_source_parts_cite_a_defined_key() -> None:
    """Every part of every source cell names a key of sources.csv, or says DERIVED / secondary press."""
    known = set(catalog_sources()) | {"DERIVED", "secondary"}
    for g in CATALOG:
        for part in g.sources:
            if "not found" in part:  # a statement about the sources, not a citation
                continue
            words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9.\-]*", part))
            assert words & known, (g.name, part)


def test_data_files_have_sources() -> None:
    for name in ("cuda_sm.csv", "cuda_drivers.csv", "pytorch_releases.csv", "tensorflow.csv", "jax.csv",
                 "rocm.csv", "features.csv", "driver_branches.csv", "cuda_minor_compat.csv"):
        rows = read_csv(name)
        assert rows, name
        assert all(r["source"] for r in rows), name
