"""Host-side constants while a model is built under ``FakeTensorMode``.

Constructors compute plain numbers from tensors: timm's ``calculate_drop_path_rates`` does
``torch.linspace(0, rate, depth).tolist()``, relative-position tables come from ``torch.arange``.
Under fake tensors those values do not exist (``.tolist()`` raises ``DataDependentOutputException``).
:class:`HostConstants` runs ``arange``/``linspace``/``logspace`` with only Python-number arguments for
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

_HOST_FACTORIES = {torch.arange, torch.linspace, torch.logspace}


class HostConstants(TorchFunctionMode):
    """Compute constant index/rate tensors for real during a fake-mode model build."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [a for a in pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        host_only = bool(tensors) and not any(isinstance(t, FakeTensor | nn.Parameter) for t in tensors)
        if (func in _HOST_FACTORIES and not tensors) or host_only:
            with unset_fake_temporarily():
                return func(*args, **kwargs)
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
