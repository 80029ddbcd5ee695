"""Compatibility answers for the issue's 12 GPUs, checked against shared data/compat.md and
data/pytorch-arch-list.csv (section numbers cite compat.md)."""

from __future__ import annotations

import pytest

from gpuplan.catalog import compat_report, features, get_gpu
from gpuplan.catalog.compat import CompatReport
from gpuplan.render.jsonout import to_jsonable


def report(name: str) -> CompatReport:
    return compat_report(get_gpu(name), local_torch=False)


# (query, cuda min, cuda max, pytorch first, pytorch last, newest runnable, its CUDA)
CASES = [
    # §2.8: CUDA 10.2 is the last toolkit; last official wheel with sm_30 is 0.3.0.
    ("gtx 760", "7.0", "10.2", "0.3.0", "0.3.0", "0.3.0", "9.0"),
    # §2.3: sm_50/sm_60 kept only in cu126 through 2.14; 2.15 proposed to drop 12.6.
    ("gtx 1060 6gb", "8.0", "12.9", "0.3.0", "2.14.1", "2.14.1", "12.6"),
    # Turing: current toolkits and builds.
    ("gtx 1650", "10.0", None, "1.0.0", None, "2.14.1", "13.2"),
    ("rtx 3060 12gb", "11.1", None, "1.8.0", None, "2.14.1", "13.2"),
    # §2.1 sm_37 last CUDA 11.8; §2.3 K80 last official 2.7.x cu118.
    ("tesla k80", "7.0", "11.8", "0.3.0", "2.7.1", "2.7.1", "11.8"),
    ("p100 16gb", "8.0", "12.9", "0.3.0", "2.14.1", "2.14.1", "12.6"),
    # §2.3 sm_70: cu126 through 2.14 (cu128 through 2.10); cu13x never.
    ("v100 16gb", "9.0", "12.9", "0.3.0", "2.14.1", "2.14.1", "12.6"),
    ("t4", "10.0", None, "1.0.0", None, "2.14.1", "13.2"),
    ("a100 80gb", "11.0", None, "1.7.0", None, "2.14.1", "13.2"),
    ("h100 sxm", "11.8", None, "2.0.0", None, "2.14.1", "13.2"),
    ("rtx 5090", "12.8", None, "2.7.0", None, "2.14.1", "13.2"),
]


@pytest.mark.parametrize(("query", "cmin", "cmax", "first", "last", "newest", "cuda"), CASES)
def test_nvidia_answers(query: str, cmin: str, cmax: str | None, first: str, last: str | None, newest: str,
                        cuda: str) -> None:
    r = report(query)
    assert (r.cuda_toolkit.min, r.cuda_toolkit.max) == (cmin, cmax)
    pt = r.pytorch_official
    assert (pt.first, pt.last, pt.newest_runnable, pt.newest_runnable_cuda) == (first, last, newest, cuda)
    assert r.sources


def test_gtx760_full_answer() -> None:
    r = report("gtx760")
    tk = {t.version: t for t in r.cuda_toolkit.toolkits}
    assert max(tk, key=lambda v: tuple(map(int, v.split(".")))) == "10.2"
    assert (tk["10.2"].min_driver_linux, tk["10.2"].min_driver_windows) == ("440.33", "441.22")  # §2.8
    assert r.cuda_toolkit.last_driver_branch == "R470"
    assert r.install.command is None  # no pip one-liner for 0.3.0
    text = " ".join(r.install.options)
    for word in ("0.3.0", "TORCH_CUDA_ARCH_LIST=3.0", "cpu", "Upgrade"):
        assert word in text
    assert r.pytorch_official.newest_source_build == "1.12.1"  # newest release with a CUDA 10.2 build
    assert not r.tensorflow.supported and r.tensorflow.last is None  # §2.4: no official Linux binary
    assert "0.12" in (r.tensorflow.note or "")
    assert not r.jax.supported and "5.2" in (r.jax.note or "")  # §2.5
    f = features(get_gpu("gtx760"))
    assert not (f.fp16_math or f.tensor_cores or f.bf16 or f.flash_attention or f.mem_efficient_attention)


def test_k80_details() -> None:
    r = report("k80")
    cu118 = next(v for v in r.pytorch_official.variants if v.platform == "linux-x86_64-pip" and v.cuda == "11.8")
    assert (cu118.first, cu118.last) == ("2.0.0", "2.7.1")
    win = next(v for v in r.pytorch_official.variants if v.platform == "windows-pip" and v.cuda == "11.8")
    assert win.last == "2.5.1"  # Windows 3.7+PTX verified only up to 2.5.x
    assert not any(v.cuda.startswith("12") for v in r.pytorch_official.variants)  # never in cu12x builds
    assert r.install.command == "pip install torch==2.7.1 --index-url https://download.pytorch.org/whl/cu118"
    assert r.tensorflow.last == "2.14"  # CUDA 12 (TF 2.15+) cannot target sm_37
    assert not r.jax.supported


def test_gtx1060_cu126_through_214() -> None:
    r = report("gtx 1060 6gb")
    cu126 = next(v for v in r.pytorch_official.variants if v.platform == "linux-x86_64-pip" and v.cuda == "12.6")
    assert cu126.last == "2.14.1"
    assert not any(v.cuda in {"12.8", "13.0", "13.2"} and v.platform == "linux-x86_64-pip"
                   for v in r.pytorch_official.variants)
    assert any("expected to drop" in n for n in r.pytorch_official.notes)
    assert r.install.command == "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu126"
    f = features(get_gpu("gtx 1060 6gb"))
    assert not f.fp16_math and "1/64" in (f.fp16_math_note or "") and f.int8_dp4a


def test_v100_cu128_through_210() -> None:
    r = report("v100 16gb")
    cu128 = next(v for v in r.pytorch_official.variants if v.platform == "linux-x86_64-pip" and v.cuda == "12.8")
    assert (cu128.first, cu128.last) == ("2.8.0", "2.10.0")
    f = features(get_gpu("v100 16gb"))
    assert f.tensor_cores and not f.bf16 and not f.int8_tensor and not f.flash_attention and f.mem_efficient_attention


def test_gtx1650_has_no_tensor_cores() -> None:
    f = features(get_gpu("gtx 1650"))
    assert f.fp16_math and not f.tensor_cores and not f.int8_tensor


@pytest.mark.parametrize(("query", "fp8"), [("rtx 3060 12gb", False), ("a100 80gb", False), ("h100 sxm", True),
                                            ("rtx 5090", True), ("t4", False)])
def test_modern_features(query: str, fp8: bool) -> None:
    f = features(get_gpu(query))
    cc = get_gpu(query).cc_tuple
    assert f.tensor_cores and f.int8_tensor
    assert f.bf16 == f.tf32 == f.flash_attention == (cc is not None and cc >= (8, 0))
    assert f.fp8 is fp8


def test_mi250x_rocm() -> None:
    g = get_gpu("mi250x")
    r = compat_report(g, local_torch=False)
    assert r.cuda_toolkit.max is None and r.pytorch_official.last is None
    assert r.rocm.applicable and r.rocm.gfx_target == "gfx90a"
    assert "supported" in (r.rocm.linux or "")
    assert r.install.command and "rocm" in r.install.command
    assert r.jax.install == 'pip install -U "jax[rocm7-local]"' or "rocm" in (r.jax.install or "")
    f = features(g)
    assert f.tensor_cores and f.bf16 and not f.flash_attention and f.notes


def test_contract_fields_are_json() -> None:
    data = to_jsonable(report("gtx760"))
    assert data["cuda_toolkit"]["max"] == "10.2"
    assert data["pytorch_official"]["last"] == "0.3.0"
    assert data["cuda_toolkit"]["toolkits"][0]["min_driver_linux"]


def test_local_torch_check_runs() -> None:
    r = compat_report(get_gpu("rtx 3060 12gb"), local_torch=True)
    lt = r.local_torch
    assert lt is not None and lt.available
    if lt.arch_list:
        assert lt.supports_gpu is True  # every current CUDA build has sm_80/sm_86
    k80 = compat_report(get_gpu("k80"), local_torch=True).local_torch
    assert k80 is not None and k80.supports_gpu in {False, None}
