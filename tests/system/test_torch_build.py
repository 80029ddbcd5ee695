"""The installed torch build, read without initialising CUDA."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from gpuplan.system.torchinfo import TorchBuild, collect_torch_build, format_cudnn_version


def test_format_cudnn_version() -> None:
    assert format_cudnn_version(92400) == "9.24.0"
    assert format_cudnn_version(90100) == "9.1.0"
    assert format_cudnn_version(8906) == "8.9.6"
    assert format_cudnn_version(7605) == "7.6.5"


def test_cuda_tag() -> None:
    assert TorchBuild(True, "2.14.1+cu130", "13.0").cuda_tag == "cu130"
    assert TorchBuild(True, "1.8.1+cu101", "10.1").cuda_tag == "cu101"
    assert TorchBuild(True, "2.13.0+cpu").cuda_tag is None
    assert not TorchBuild(True, "2.13.0+cpu").is_cuda_build


def test_installed_torch_without_cuda_init() -> None:
    import torch

    tb = collect_torch_build()
    assert tb.installed and tb.version == torch.__version__
    assert tb.cuda == torch.version.cuda
    if tb.cuda:
        assert tb.arch_list and all(a.startswith(("sm_", "compute_")) for a in tb.arch_list)
    assert not torch.cuda.is_initialized()


def _fake_torch(*, arch_flags: str | None, has_flags_fn: bool, cuda: str | None = "11.8") -> SimpleNamespace:
    c = SimpleNamespace()
    if has_flags_fn:
        c._cuda_getArchFlags = lambda: arch_flags
    return SimpleNamespace(
        __version__="2.0.1+cu118",
        version=SimpleNamespace(cuda=cuda, hip=None),
        _C=c,
        # old torch: get_arch_list() returned [] unless a GPU was available
        cuda=SimpleNamespace(get_arch_list=lambda: []),
        backends=SimpleNamespace(cudnn=SimpleNamespace(version=lambda: 8700)),
    )


def test_arch_list_from_compile_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_torch(arch_flags="sm_37 sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90", has_flags_fn=True)
    monkeypatch.setitem(sys.modules, "torch", fake)
    tb = collect_torch_build()
    assert tb.arch_list[0] == "sm_37" and len(tb.arch_list) == 8
    assert tb.cudnn == "8.7.0"


def test_cpu_build_has_no_arch_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(arch_flags=None, has_flags_fn=True, cuda=None))
    tb = collect_torch_build()
    assert tb.installed and tb.cuda is None and tb.arch_list == () and tb.cudnn is None


def test_torch_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    tb = collect_torch_build()
    assert not tb.installed and tb.error and "torch" in tb.error
