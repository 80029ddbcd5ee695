"""Optimizers whose memory PyTorch's own classes do not give, emulated for tracing (not for training).

8-bit Adam as bitsandbytes stores it.

bitsandbytes' blockwise 8-bit Adam keeps both moments as uint8 with one fp32 absmax per block of
2048 values (Dettmers et al., "8-bit Optimizers via Block-wise Quantization", 2022), and updates
them in place inside one fused kernel per parameter, so the step allocates no temporaries.
Parameters with fewer than 4096 elements keep 32-bit state (bnb's ``min_8bit_size`` default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

BLOCK = 2048
MIN_8BIT_SIZE = 4096


class Adam8bit(torch.optim.Optimizer):
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    if p.numel() >= MIN_8BIT_SIZE:
                        n_blocks = math.ceil(p.numel() / BLOCK)
                        state["state1"] = torch.zeros(p.numel(), dtype=torch.uint8)
                        state["state2"] = torch.zeros(p.numel(), dtype=torch.uint8)
                        state["absmax1"] = torch.zeros(n_blocks, dtype=torch.float32)
                        state["absmax2"] = torch.zeros(n_blocks, dtype=torch.float32)
                    else:
                        state["state1"] = torch.zeros_like(p, dtype=torch.float32)
                        state["state2"] = torch.zeros_like(p, dtype=torch.float32)
                # one fused in-place kernel: reads grad and states, writes param and states
                p.add_(p.grad, alpha=-group["lr"])


class Adafactor(torch.optim.Optimizer):
    """Adafactor as Hugging Face ships it (transformers.optimization.Adafactor, the Trainer's
    ``optim="adafactor"``: beta1=None, so no first moment): parameters with 2+ dims keep a factored
    second moment (row and column means), others a full one. The step runs per parameter and
    allocates two full-size temporaries (the squared gradient and the update). The real optimizer
    reads scalars with ``.item()``, which fake tensors cannot do, hence this emulation."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, eps: float = 1e-30) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                factored = p.dim() >= 2
                if not state:
                    if factored:
                        state["exp_avg_sq_row"] = torch.zeros(p.shape[:-1], dtype=p.dtype)
                        state["exp_avg_sq_col"] = torch.zeros((*p.shape[:-2], p.shape[-1]), dtype=p.dtype)
                    else:
                        state["exp_avg_sq"] = torch.zeros_like(p)
                update = grad * grad + group["eps"]
                if factored:
                    state["exp_avg_sq_row"].mul_(0.999).add_(update.mean(dim=-1), alpha=0.001)
                    state["exp_avg_sq_col"].mul_(0.999).add_(update.mean(dim=-2), alpha=0.001)
                    r = state["exp_avg_sq_row"].rsqrt().unsqueeze(-1)
                    c = state["exp_avg_sq_col"].unsqueeze(-2).rsqrt()
                    del update
                    update = torch.mul(r, c)
                    update.mul_(grad)
                else:
                    state["exp_avg_sq"].mul_(0.999).add_(update, alpha=0.001)
                    update = state["exp_avg_sq"].rsqrt().mul_(grad)
                update.mul_(group["lr"])
                p.add_(-update)
                del update
