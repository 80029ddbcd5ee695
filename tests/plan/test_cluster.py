"""--gpus parsing, link data and the bad inputs the CLI must name."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gpuplan.errors import UnknownGPUError, UsageError
from gpuplan.plan.cluster import cluster_for, links, parse_gpus

DATA = Path(__file__).resolve().parents[2] / "src" / "gpuplan" / "plan" / "data"


@pytest.mark.parametrize(
    ("text", "count", "name"),
    [("8xA100-80G", 8, "A100-80G"), ("4xRTX 3090", 4, "RTX 3090"), ('2x"GTX 1080 Ti"', 2, "GTX 1080 Ti"),
     ("2 x gtx 1080 ti", 2, "gtx 1080 ti"), ("16×H100 SXM5", 16, "H100 SXM5")],
)
def test_parse_gpus(text: str, count: int, name: str) -> None:
    assert parse_gpus(text) == (count, name)


def test_every_link_has_a_source_and_a_consistent_rate() -> None:
    with (DATA / "interconnects.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows
    for r in rows:
        assert r["source"].strip() and r["derivation"].strip()
        fig, rate = float(r["published_figure"]), float(r["per_direction_gbs"])
        if r["published_unit"] == "GB/s bidirectional total":
            assert rate == pytest.approx(fig / 2)
        elif r["published_unit"] == "Gb/s line rate":
            assert rate == pytest.approx(fig / 8)
    with (DATA / "gpu_links.csv").open() as f:
        for r in csv.DictReader(f):
            assert r["source"].strip()
            for col in ("nvlink", "pcie", "inter_node"):
                assert not r[col] or r[col] in links(), r


def test_defaults_nvlink_pcie_and_multi_node() -> None:
    a100 = cluster_for("8xA100-80G")
    assert a100.intra is not None and a100.intra.kind == "nvlink" and a100.bus_gbs == 300.0
    assert cluster_for("8xA100-80G", interconnect="pcie").bus_gbs == 31.5
    two = cluster_for("8xA100-80G", nodes=2)
    assert two.world_size == 16 and two.inter is not None and two.bus_gbs == 25.0  # HDR NIC per GPU is slower
    assert cluster_for("8xH100 SXM5", nodes=2, interconnect="ib-ndr").bus_gbs == 50.0
    assert cluster_for('2x"GTX 1080 Ti"').bus_gbs == 15.75  # Pascal: PCIe 3.0 x16
    # NVLink bridges pair two RTX 3090s: with four per node the ring crosses PCIe
    four = cluster_for("4xRTX 3090")
    assert four.bus_gbs == 31.5 and any("NVLink joins at most 2" in n for n in four.notes)
    assert cluster_for("2xRTX 3090").bus_gbs == 56.25
    assert cluster_for("1xA100-80G").bus_gbs is None  # one GPU: no ring


def test_unknown_link_figure_is_na() -> None:
    amd = cluster_for("2xMI250X")
    assert amd.bus_gbs is None and any("N/A" in n for n in amd.notes)


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"gpus": "0xA100-80G"}, ["1 to 16", "got 0"]),
        ({"gpus": "17xA100-80G"}, ["1 to 16", "--nodes"]),
        ({"gpus": "A100-80G"}, ["COUNTxGPU"]),
        ({"gpus": "8xA100-80G", "interconnect": "carrier-pigeon"}, ["carrier-pigeon", "nvlink", "pcie", "ib"]),
        ({"gpus": "8xA100-80G", "nodes": 0}, ["--nodes 0", "1 to 4096"]),
        ({"gpus": "8xA100-80G", "nodes": -3}, ["--nodes -3"]),
        ({"gpus": "4xRTX 4090", "interconnect": "nvlink"}, ["no NVLink", "allowed for this GPU: pcie"]),
        ({"gpus": "8xA100-80G", "interconnect": "ib"}, ["--nodes is 1"]),
        ({"gpus": "1xA100-80G", "interconnect": "nvlink"}, ["1 GPU per node"]),
        ({"gpus": "8xA100-80G", "nodes": 2, "interconnect": "nvlink,pcie"}, ["at most one intra-node"]),
    ],
)
def test_nonsense_is_a_usage_error_naming_what_is_allowed(kwargs: dict[str, object], needles: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        cluster_for(**kwargs)  # type: ignore[arg-type]
    for needle in needles:
        assert needle in str(info.value)


def test_unknown_gpu_names_closest() -> None:
    with pytest.raises(UnknownGPUError) as info:
        cluster_for("8xA100-90GB")
    assert "A100" in str(info.value)
