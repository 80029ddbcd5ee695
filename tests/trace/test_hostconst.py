"""Models whose constructors read numbers out of tensors (timm drop-path rates) build under fake tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from gpuplan.trace import trace_workload
from gpuplan.trace.hostconst import HostConstants, fakeify_host_tensors
from gpuplan.workload.spec import Mode, Workload


class _RatesFromLinspace(nn.Module):
    """The timm pattern: per-block rates from linspace(...).tolist(), and an arange buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.rates = torch.linspace(0, 0.1, 4).tolist()
        self.register_buffer("index", torch.arange(16).view(4, 4) * 2)
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + self.index[0].float()


def test_host_constants_keep_values_and_leave_no_real_tensors() -> None:
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake, HostConstants():
        m = _RatesFromLinspace()
    assert m.rates == pytest.approx([0.0, 1 / 30, 2 / 30, 0.1])
    assert not isinstance(m.index, FakeTensor)  # computed for real...
    assert fakeify_host_tensors(m, fake) == 1
    assert isinstance(m.index, FakeTensor)  # ...then made fake like every other buffer
    assert all(isinstance(p, FakeTensor) or isinstance(p.data, FakeTensor) for p in m.parameters())


def test_without_host_constants_the_build_fails() -> None:
    with FakeTensorMode(), pytest.raises(Exception, match=r"local_scalar_dense|data-dependent|DataDependent"):
        _RatesFromLinspace()


@pytest.mark.slow
@pytest.mark.parametrize(("model", "params"), [("timm:convnext_tiny", 28_589_128), ("timm:vit_small_patch16_224", 22_050_664)])
def test_timm_models_with_drop_path_rates_trace(model: str, params: int) -> None:
    t = trace_workload(Workload(model, batch=2, mode=Mode.TRAIN))
    assert t.param_count == params
    assert t.ops


@pytest.mark.slow
def test_torchvision_vit_with_trunc_normal_init_traces() -> None:
    """nn.init.trunc_normal_ resamples `while mask.any()`: answered without values under fake tensors."""
    t = trace_workload(Workload("vit_b_16", batch=1, mode=Mode.INFER))
    assert t.param_count == 86_567_656


def test_regnet_stage_widths_from_torch_tensor_build() -> None:
    """torchvision RegNet derives stage depths with torch.tensor([...]).diff().tolist()."""
    t = trace_workload(Workload("regnet_x_400mf", batch=1, mode=Mode.INFER))
    assert t.param_count == 5_495_976
