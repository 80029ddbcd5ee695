"""Memory-saving techniques applied to a built model: freezing, LoRA, weight-only quantization,
activation checkpointing. Each mirrors what the common library does, so the trace allocates what
the real run allocates."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from gpuplan.errors import UsageError
from gpuplan.i18n import msg

# Linear layers that LoRA (PEFT) and bitsandbytes leave alone by default: output heads.
_HEAD_NAMES = ("lm_head", "classifier", "score", "qa_outputs", "head", "fc", "pooler", "embed_out", "cls")


def _matches(name: str, globs: tuple[str, ...]) -> bool:
    """A glob selects a parameter when it matches the full name or a module prefix of it: ``layer1``
    selects ``layer1.0.conv1.weight`` but not ``layer10...`` nor the ``conv1`` inside blocks; write
    ``*conv1*`` to match anywhere."""
    return any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(name, g.rstrip(".") + ".*") for g in globs)


def freeze(model: nn.Module, globs: tuple[str, ...]) -> int:
    """Freeze parameters whose name matches a glob; returns how many parameters were frozen."""
    n = 0
    for name, p in model.named_parameters():
        if _matches(name, globs):
            p.requires_grad_(False)
            n += p.numel()
    if n == 0:
        names = [nm for nm, _ in model.named_modules() if nm][:8]
        raise UsageError(msg("--freeze {globs} matched no parameter.", globs=", ".join(globs)),
                         hint=msg("Module names look like: {names}", names=", ".join(names)))
    return n


def _is_head(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last in _HEAD_NAMES or name in _HEAD_NAMES


class LoRALinear(nn.Module):
    """y = base(x) + B(A(dropout(x))) * alpha/r with the base layer frozen (PEFT's LoRA Linear)."""

    def __init__(self, base: nn.Module, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        self.base = base
        in_f = int(base.in_features)
        out_f = int(base.out_features)
        w = getattr(base, "weight", None)
        dtype = w.dtype if isinstance(w, torch.Tensor) and w.is_floating_point() else torch.float32
        self.lora_A = nn.Linear(in_f, rank, bias=False, dtype=dtype)
        self.lora_B = nn.Linear(rank, out_f, bias=False, dtype=dtype)
        self.scaling = (alpha or 2 * rank) / rank
        for p in base.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_lora(model: nn.Module, rank: int, targets: tuple[str, ...]) -> int:
    """Wrap targeted Linear layers with LoRA adapters and freeze everything else; returns adapter count."""
    if rank <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--lora-rank", value=rank))
    for p in model.parameters():
        p.requires_grad_(False)
    count = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            is_linear = isinstance(child, (nn.Linear, QuantLinear)) or type(child).__name__ == "Conv1D"
            if not is_linear or _is_head(full):
                continue
            if targets and not _matches(full, targets):
                continue
            if type(child).__name__ == "Conv1D":  # GPT-2's transposed linear
                child.in_features, child.out_features = child.weight.shape  # type: ignore[union-attr]
            setattr(module, child_name, LoRALinear(child, rank))
            count += 1
    if count == 0:
        raise UsageError(msg("--lora-targets matched no Linear layer.") if targets
                         else msg("The model has no Linear layer for LoRA."))
    return count


# Weight-only quantization, laid out as bitsandbytes stores it: int8 = 1 byte/weight with one fp32 scale
# per row (LLM.int8()); int4/nf4 = 2 weights/byte with one fp32 absmax per block of 64 weights
# (bnb Linear4bit, blocksize 64, no double quantization).
_QUANT_BITS = {"int8": 8, "int4": 4, "nf4": 4}


class _DequantMatmul(torch.autograd.Function):
    """Dequantize the weight for the matmul (forward and again in backward), saving only the packed weight."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, out_f: int, in_f: int,
                bias: torch.Tensor | None) -> torch.Tensor:
        w = torch.empty((out_f, in_f), dtype=x.dtype)
        ctx.save_for_backward(packed, scales)
        ctx.shape = (out_f, in_f)
        y = torch.nn.functional.linear(x, w, bias)
        del w
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        out_f, in_f = ctx.shape
        w = torch.empty((out_f, in_f), dtype=dy.dtype)
        dx = dy @ w
        del w
        return dx, None, None, None, None, None


class QuantLinear(nn.Module):
    def __init__(self, base: nn.Linear, kind: str, compute_dtype: torch.dtype) -> None:
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        bits = _QUANT_BITS[kind]
        n = base.in_features * base.out_features
        self.register_buffer("packed", torch.empty((math.ceil(n * bits / 8),), dtype=torch.uint8))
        n_scales = base.out_features if kind == "int8" else math.ceil(n / 64)
        self.register_buffer("scales", torch.empty((n_scales,), dtype=torch.float32))
        self.bias = (nn.Parameter(torch.empty(base.out_features, dtype=compute_dtype), requires_grad=False)
                     if base.bias is not None else None)
        self.compute_dtype = compute_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.compute_dtype)
        return _DequantMatmul.apply(x, self.packed, self.scales, self.out_features, self.in_features, self.bias)


def quantize_linears(model: nn.Module, kind: str, compute_dtype: torch.dtype) -> int:
    """Replace every Linear but the output head with a weight-only quantized one (bitsandbytes layout)."""
    count = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and not _is_head(full):
                setattr(module, child_name, QuantLinear(child, kind, compute_dtype))
                count += 1
    return count


class _Checkpointed(nn.Module):
    def __init__(self, inner: nn.Module, context_fn: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.context_fn = context_fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        extra = {"context_fn": self.context_fn} if self.context_fn is not None else {}
        return checkpoint(self.inner, *args, use_reentrant=False, **extra, **kwargs)


def enable_checkpointing(model: nn.Module, context_fn: Callable[[], Any] | None = None) -> int:
    """Activation checkpointing per block, as users do it: HF models use their own switch;
    otherwise each child of the block containers (Sequential/ModuleList of non-leaf modules) is
    wrapped with torch.utils.checkpoint (non-reentrant). Returns the number of checkpointed blocks.

    ``context_fn`` is torch.utils.checkpoint's (forward context, recomputation context) factory: the
    tracer uses it to keep its target-kernel emulation active when backward recomputes a block."""
    kwargs: dict[str, Any] = {"use_reentrant": False}
    if context_fn is not None:
        kwargs["context_fn"] = context_fn
    if hasattr(model, "gradient_checkpointing_enable") and getattr(model, "supports_gradient_checkpointing", False):
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        return sum(1 for m in model.modules() if getattr(m, "gradient_checkpointing", False))
    count = 0
    for container in list(model.modules()):
        if not isinstance(container, (nn.Sequential, nn.ModuleList)):
            continue
        kids = list(container.named_children())
        if len(kids) < 2 or not all(len(list(k.children())) > 0 for _, k in kids):
            continue
        if any(isinstance(k, _Checkpointed) for _, k in kids):
            continue
        for child_name, child in kids:
            setattr(container, child_name, _Checkpointed(child, context_fn))
            count += 1
    if count == 0:
        raise UsageError(msg("--checkpointing: found no blocks (Sequential/ModuleList of sub-modules) to checkpoint "
                             "in this model."))
    return count
