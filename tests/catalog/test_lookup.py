"""Forgiving lookup: the issue's examples, ambiguity and unknown names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuplan.catalog import get_gpu, load_gpu_spec, resolve_gpus
from gpuplan.errors import UnknownGPUError, UsageError


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("gtx760", "GeForce GTX 760"),
        ("GeForce GTX 760", "GeForce GTX 760"),
        ("760", "GeForce GTX 760"),
        ("NVIDIA GeForce GTX 760", "GeForce GTX 760"),
        ("rtx 3060 12gb", "GeForce RTX 3060 12GB"),
        ("RTX3060 12G", "GeForce RTX 3060 12GB"),
        ("a100 80g", "A100 80GB SXM4"),
        ("a100 80gb pcie", "A100 80GB PCIe"),
        ("h100 sxm", "H100 SXM5 80GB"),
        ("H100 PCIe", "H100 PCIe 80GB"),
        ("Tesla K80", "Tesla K80 (per GPU)"),
        ("k80", "Tesla K80 (per GPU)"),
        ("mi250x", "Instinct MI250X (per GCD)"),
        ("MI250", "Instinct MI250 (per GCD)"),
        ("gtx 1650", "GeForce GTX 1650"),
        ("gtx 1650 super", "GeForce GTX 1650 SUPER"),
        ("T4", "Tesla T4"),
        ("rtx 4090 mobile", "GeForce RTX 4090 Laptop GPU"),
        ("m2 max", "Apple M2 Max (38-core GPU)"),
        ("rx 7900 xtx", "Radeon RX 7900 XTX"),
        ("L4", "L4"),
        ("rtx 5090", "GeForce RTX 5090"),
    ],
)
def test_forgiving_names(query: str, name: str) -> None:
    assert get_gpu(query).name == name


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("h100", {"H100 PCIe 80GB", "H100 SXM5 80GB"}),
        ("rtx 3060", {"GeForce RTX 3060 12GB", "GeForce RTX 3060 8GB", "GeForce RTX 3060 Ti",
                      "GeForce RTX 3060 Laptop GPU"}),
        ("gtx 1060", {"GeForce GTX 1060 6GB", "GeForce GTX 1060 3GB"}),
    ],
)
def test_ambiguous_lists_candidates(query: str, expected: set[str]) -> None:
    with pytest.raises(UnknownGPUError) as err:
        get_gpu(query)
    assert err.value.ambiguous
    assert set(err.value.candidates) == expected
    assert err.value.exit_code == 2


def test_unknown_gives_closest_names() -> None:
    with pytest.raises(UnknownGPUError) as err:
        get_gpu("gtx 7600")
    assert not err.value.ambiguous
    assert err.value.candidates
    assert "GeForce GTX 760" in err.value.candidates
    assert "Closest names" in str(err.value)


def test_resolve_list_and_all() -> None:
    assert [g.name for g in resolve_gpus("gtx760, t4 ,h100 sxm")] == ["GeForce GTX 760", "Tesla T4", "H100 SXM5 80GB"]
    assert len(resolve_gpus("all")) >= 168


def test_custom_spec_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "card.yaml"
    y.write_text("name: My Card\nmemory_gib: 24\nfp32_tflops: 30\nbandwidth_gbs: 900\ncompute_capability: '8.6'\n")
    g = get_gpu(str(y))
    assert (g.name, g.memory_bytes, g.vendor, g.compute_capability) == ("My Card", 24 * 2**30, "NVIDIA", "8.6")
    j = tmp_path / "card.json"
    j.write_text(json.dumps({"name": "Slow 3090", "base": "rtx 3090", "boost_clock_mhz": 1400}))
    g2 = load_gpu_spec(j)
    assert g2.cuda_cores == 10496 and g2.boost_clock_mhz == 1400 and g2.memory_bytes == 24 * 2**30
    assert g2.sources[0].startswith("custom spec")


def test_inline_spec() -> None:
    g = get_gpu("name=Inline,memory_gb=16,bandwidth_gbs=500")
    assert g.memory_bytes == 16_000_000_000 and g.vendor == "other"


def test_bad_spec_names_the_fields(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: X\nfp32_tflops: fast\ncolour: red\ncompute_capability: '86'\n")
    with pytest.raises(UsageError) as err:
        load_gpu_spec(p)
    msg = str(err.value)
    for word in ("fp32_tflops", "colour", "compute_capability", "memory_gib"):
        assert word in msg
