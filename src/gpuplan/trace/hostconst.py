"""Host-side constants while a model is built under ``FakeTensorMode``.

Constructors compute plain numbers from tensors: timm's ``calculate_drop_path_rates`` does
``torch.linspace(0, rate, depth).tolist()``, relative-position tables come from ``torch.arange``.
``nn.init.trunc_normal_`` reads its bounds back with ``tensor.new_tensor(a).item()`` and resamples
``while mask.any()`` (answered "no outliers": initial values never matter for a trace). Under fake
tensors those values do not exist (``.tolist()`` raises ``DataDependentOutputException``).
:class:`HostConstants` runs ``arange``/``linspace``/``logspace`` with only Python-number arguments, and
``new_tensor`` of Python numbers, for
real on the CPU, and keeps ops whose tensor inputs are all such real tensors real too; they are tiny
(sizes are model hyper-parameters, never the batch). After the build, :func:`fakeify_host_tensors`
turns any real parameter or buffer that came out of them into a fake tensor, so the step itself runs
entirely on fake tensors and the buffers are counted like any other.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode, unset_fake_temporarily
from torch.overrides import TorchFunctionMode

_HOST_FACTORIES = {torch.arange, torch.linspace, torch.logspace, torch.tensor}


class HostConstants(TorchFunctionMode):
    """Compute constant index/rate tensors for real during a fake-mode model build."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [a for a in pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        host_only = bool(tensors) and not any(isinstance(t, FakeTensor | nn.Parameter) for t in tensors)
        if (func in _HOST_FACTORIES and not tensors) or host_only:
            with unset_fake_temporarily():
                return func(*args, **kwargs)
        if func in (torch.Tensor.any, torch.Tensor.all, torch.any, torch.all) and len(args) == 1 and not kwargs \
                and isinstance(args[0], FakeTensor):
            # rejection loops in weight init (nn.init.trunc_normal_: "while mask.any(): resample") test
            # values that fake tensors do not have; initial values never matter here: no outliers
            with unset_fake_temporarily():
                return torch.tensor(func in (torch.Tensor.all, torch.all))
        if func is torch.Tensor.new_tensor and len(args) >= 2 and not isinstance(args[1], torch.Tensor):
            # nn.init.trunc_normal_ does tensor.new_tensor(a, device="cpu").item() for its bounds
            with unset_fake_temporarily():
                return torch.tensor(args[1], dtype=kwargs.get("dtype") or args[0].dtype)
        return func(*args, **kwargs)


def fakeify_host_tensors(model: nn.Module, fake: FakeTensorMode) -> int:
    """Replace real parameters/buffers left by the build with fake ones; returns how many."""
    n = 0
    for module in model.modules():
        for name, b in list(module._buffers.items()):
            if b is not None and not isinstance(b, FakeTensor):
                module._buffers[name] = fake.from_tensor(b)
                n += 1
        for name, p in list(module._parameters.items()):
            if p is not None and not isinstance(p, FakeTensor) and not isinstance(p.data, FakeTensor):
                module._parameters[name] = nn.Parameter(fake.from_tensor(p.detach()), requires_grad=p.requires_grad)
                n += 1
    return n
