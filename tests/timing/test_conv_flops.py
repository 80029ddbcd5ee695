"""FLOPs of convolution backward as gpuplan counts them (grouped/depthwise convs included)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gpuplan.trace.opinfo import count_flops


class _ConvFlops(TorchDispatchMode):
    """Records gpuplan's and PyTorch's FLOP counts of the conv ops that run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.ours: dict[str, float] = {}
        self.torch: dict[str, float] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name in ("convolution", "convolution_backward"):
            self.ours[name] = count_flops(func, args, kwargs, out)
            self.torch[name] = float(flop_registry[func.overloadpacket](*args, **kwargs, out_val=out))
        return out


def _conv_flops(groups: int, c_in: int = 32, c_out: int = 32, stride: int = 1) -> _ConvFlops:
    x = torch.randn(4, c_in, 12, 12, requires_grad=True)
    w = torch.randn(c_out, c_in // groups, 3, 3, requires_grad=True)
    with _ConvFlops() as m:
        torch.nn.functional.conv2d(x, w, stride=stride, padding=1, groups=groups).sum().backward()
    return m


@pytest.mark.parametrize("groups", [32, 4])
def test_grouped_conv_backward_is_twice_the_forward(groups: int) -> None:
    m = _conv_flops(groups)
    # grad-input and grad-weight each repeat the forward's multiply-adds
    assert m.ours["convolution_backward"] == pytest.approx(2 * m.ours["convolution"])
    # PyTorch's own formula ignores groups in the grad-weight term (the reason for our formula)
    assert m.torch["convolution_backward"] > 2 * m.ours["convolution"]


@pytest.mark.parametrize("stride", [1, 2])
def test_dense_conv_backward_agrees_with_pytorch(stride: int) -> None:
    m = _conv_flops(1, 16, 24, stride)
    assert m.ours["convolution_backward"] == pytest.approx(m.torch["convolution_backward"])


def test_only_requested_gradients_count() -> None:
    x = torch.randn(2, 8, 10, 10)  # no grad: the first layer of a network
    w = torch.randn(8, 1, 3, 3, requires_grad=True)
    with _ConvFlops() as m:
        torch.nn.functional.conv2d(x, w, padding=1, groups=8).sum().backward()
    assert m.ours["convolution_backward"] == pytest.approx(m.ours["convolution"])
