"""Emulate the target GPU's fused kernels whose memory differs from the CPU trace's.

* ``scaled_dot_product_attention``: the CPU runs its own flash kernel; a CUDA GPU runs flash
  (sm80+, fp16/bf16, no arbitrary mask, head_dim <= 256), memory-efficient (sm50+) or math (which
  materialises the B×H×Lq×Lk scores). Backend choice follows PyTorch's ``sdp_utils`` rules in the
  order flash → memory-efficient → math. Saved tensors and backward temporaries of the fused
  kernels follow their PyTorch/FlashAttention-2 implementations: flash saves the output and an
  fp32 log-sum-exp (B×H×Lq) and its backward allocates an fp32 dq accumulator (B×Lq×H×D) when
  Lk exceeds one block; memory-efficient saves an fp32 log-sum-exp padded to 32 rows and its
  backward uses an fp32 dq workspace.
* ``nn.LSTM/GRU/RNN``: on CUDA these run cuDNN, whose training forward keeps a *reserve space*
  for backward. Its size is not published; we model it from what backward needs: per layer,
  direction, time step and sample, the gate activations and the cell/hidden state
  ((gates + 2) × hidden elements). The cuDNN workspace is modelled as the input-projection
  buffer of one layer (T × B × gates × hidden), freed after the call. Both are assumptions,
  stated in docs/accuracy.md.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from gpuplan.trace.recorder import Recorder
from gpuplan.trace.records import KernelProfile, OpClass

_LOW = (torch.float16, torch.bfloat16)


def _nbytes(*ts: torch.Tensor | None) -> int:
    return sum(int(t.numel()) * t.element_size() for t in ts if t is not None)


def choose_sdpa_backend(profile: KernelProfile, dtype: torch.dtype, has_mask: bool, head_dim: int) -> str:
    """Which CUDA SDPA kernel PyTorch would pick (torch/backends/cuda sdp_utils priority order)."""
    if profile.attention == "flash" and dtype in _LOW and not has_mask and head_dim <= 256:
        return "flash"
    if profile.attention in ("flash", "mem_efficient"):
        if dtype == torch.bfloat16 and profile.attention != "flash":
            return "math"  # mem-efficient bf16 needs sm80+, where the profile would be "flash"
        return "mem_efficient"
    return "math"


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool,
                rec: Recorder) -> torch.Tensor:
        b, h, lq, d = q.shape
        lk = k.shape[-2]
        flops = 4.0 * b * h * lq * lk * d * (0.5 if is_causal else 1.0)
        with rec.fused("gpuplan.flash_attention_fwd", OpClass.ATTENTION, flops=flops, dtype=q.dtype,
                       bytes_in=_nbytes(q, k, v), bytes_out=_nbytes(q) * v.shape[-1] // d,
                       shapes=(tuple(q.shape), tuple(k.shape))):
            out = q.new_empty((b, h, lq, v.shape[-1]))
            lse = q.new_empty((b, h, lq), dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.is_causal = is_causal
        ctx.rec = rec
        return out

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> Any:
        q, k, v, out, lse = ctx.saved_tensors
        rec: Recorder = ctx.rec
        b, h, lq, d = q.shape
        lk = k.shape[-2]
        flops = 10.0 * b * h * lq * lk * d * (0.5 if ctx.is_causal else 1.0)  # 5 GEMMs (recompute + 4)
        with rec.fused("gpuplan.flash_attention_bwd", OpClass.ATTENTION, flops=flops, dtype=q.dtype,
                       bytes_in=_nbytes(q, k, v, out, dout, lse), bytes_out=_nbytes(q, k, v),
                       shapes=(tuple(q.shape), tuple(k.shape))):
            dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            softmax_d = q.new_empty((b, h, _round_up(lq, 128)), dtype=torch.float32)
            dq_accum = (q.new_empty((b, _round_up(lq, 128), h, _round_up(d, 32)), dtype=torch.float32)
                        if lk > 128 else None)
            del softmax_d, dq_accum
        return dq, dk, dv, None, None


class _MemEfficientAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                is_causal: bool, rec: Recorder) -> torch.Tensor:
        b, h, lq, d = q.shape
        lk = k.shape[-2]
        flops = 4.0 * b * h * lq * lk * d * (0.5 if is_causal else 1.0)
        with rec.fused("gpuplan.mem_efficient_attention_fwd", OpClass.ATTENTION, flops=flops, dtype=q.dtype,
                       bytes_in=_nbytes(q, k, v, mask), bytes_out=_nbytes(q) * v.shape[-1] // d,
                       shapes=(tuple(q.shape), tuple(k.shape))):
            out = q.new_empty((b, h, lq, v.shape[-1]))
            lse = q.new_empty((b, h, _round_up(lq, 32)), dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.is_causal = is_causal
        ctx.rec = rec
        return out

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> Any:
        q, k, v, out, lse, mask = ctx.saved_tensors
        rec: Recorder = ctx.rec
        b, h, lq, d = q.shape
        lk = k.shape[-2]
        flops = 10.0 * b * h * lq * lk * d * (0.5 if ctx.is_causal else 1.0)
        with rec.fused("gpuplan.mem_efficient_attention_bwd", OpClass.ATTENTION, flops=flops, dtype=q.dtype,
                       bytes_in=_nbytes(q, k, v, out, dout, lse, mask), bytes_out=_nbytes(q, k, v),
                       shapes=(tuple(q.shape), tuple(k.shape))):
            dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            delta = q.new_empty((b, h, lq), dtype=torch.float32)
            workspace = q.new_empty((b, h, lq, d), dtype=torch.float32) if q.dtype != torch.float32 else None
            del delta, workspace
        return dq, dk, dv, None, None, None


def _round_up(x: int, m: int) -> int:
    return (x + m - 1) // m * m


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class _CudnnRNN(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor | None, mode: str, hidden: int,
                num_layers: int, bidirectional: bool, batch_first: bool, training: bool, rec: Recorder,
                *weights: torch.Tensor) -> Any:
        dirs = 2 if bidirectional else 1
        gates = _GATES[mode]
        if batch_first:
            b, t, feat = x.shape
        else:
            t, b, feat = x.shape
        flops = 0.0
        in_f = feat
        for _ in range(num_layers):
            flops += dirs * 2.0 * t * b * (in_f + hidden) * gates * hidden
            in_f = hidden * dirs
        w_bytes = _nbytes(*weights)
        out_shape = (b, t, hidden * dirs) if batch_first else (t, b, hidden * dirs)
        with rec.fused("gpuplan.cudnn_rnn_fwd", OpClass.RNN, flops=flops, dtype=x.dtype,
                       bytes_in=_nbytes(x, hx, cx) + w_bytes, bytes_out=t * b * hidden * dirs * x.element_size(),
                       shapes=(tuple(x.shape), (num_layers, dirs, hidden)), launches=num_layers * dirs * t + 1):
            out = x.new_empty(out_shape)
            hy = hx.new_empty(hx.shape)
            cy = cx.new_empty(cx.shape) if cx is not None else None
            workspace = x.new_empty((t * b * gates * hidden * dirs,))
            reserve = (x.new_empty((num_layers * dirs * t * b * hidden * (gates + 2),)) if training else None)
            del workspace
        ctx.save_for_backward(x, hx, cx, out, reserve, *weights)
        ctx.meta = (gates, hidden, num_layers, dirs, t, b, flops)
        ctx.rec = rec
        return (out, hy, cy) if cy is not None else (out, hy)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor, dhy: torch.Tensor, *rest: Any) -> Any:
        x, hx, cx, out, reserve, *weights = ctx.saved_tensors
        gates, hidden, num_layers, dirs, t, b, flops = ctx.meta
        rec: Recorder = ctx.rec
        with rec.fused("gpuplan.cudnn_rnn_bwd", OpClass.RNN, flops=2 * flops, dtype=x.dtype,
                       bytes_in=_nbytes(x, out, dout, reserve, *weights), bytes_out=_nbytes(x, *weights),
                       shapes=(tuple(x.shape), (num_layers, dirs, hidden)),
                       launches=2 * num_layers * dirs * t + 2):
            dx = torch.empty_like(x)
            dhx = torch.empty_like(hx)
            dcx = torch.empty_like(cx) if cx is not None else None
            workspace = x.new_empty((t * b * gates * hidden * dirs,))
            dws = [torch.empty_like(w) for w in weights]
            del workspace
        return (dx, dhx, dcx, None, None, None, None, None, None, None, *dws)


class _GroupedMatmul(torch.autograd.Function):
    """torch grouped_mm (MoE experts) in float16/float32: torch's meta kernel accepts only bfloat16 (and
    float16 with cuBLASLt grouped GEMM), so the fake trace cannot run the float16 model or fp32
    master weights under AMP; the CUDA kernel's output and FLOPs do not depend on that. Emulated as
    one kernel: out[S, N] from a[S, K] and per-expert weights b[E, K, N] (2·S·K·N FLOPs); backward
    produces grad_a and grad_b, 2·S·K·N FLOPs each."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor | None, rec: Recorder) -> torch.Tensor:
        s, k = a.shape
        n = b.shape[-1]
        with rec.fused("gpuplan.grouped_mm", OpClass.MATMUL, flops=2.0 * s * k * n, dtype=a.dtype,
                       bytes_in=_nbytes(a, b), bytes_out=s * n * a.element_size(), shapes=(tuple(a.shape), tuple(b.shape))):
            out = a.new_empty((s, n))
        ctx.save_for_backward(a, b)
        ctx.rec = rec
        return out

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> Any:
        a, b = ctx.saved_tensors
        rec: Recorder = ctx.rec
        s, k = a.shape
        n = b.shape[-1]
        with rec.fused("gpuplan.grouped_mm_bwd", OpClass.MATMUL, flops=4.0 * s * k * n, dtype=a.dtype,
                       bytes_in=_nbytes(a, b, dout), bytes_out=_nbytes(a, b), launches=2,
                       shapes=(tuple(a.shape), tuple(b.shape))):
            da = a.new_empty(a.shape) if ctx.needs_input_grad[0] else None
            db = b.new_empty(b.shape) if ctx.needs_input_grad[1] else None
        return da, db, None, None


_GROUPED_MM = tuple(f for f in (getattr(F, "grouped_mm", None), getattr(torch, "_grouped_mm", None)) if f is not None)


def _fused_dropout(func: Any, args: Any, kwargs: dict[str, Any]) -> torch.Tensor | None:
    """Out-of-place training dropout as CUDA runs it: ``at::dropout`` takes the fused ``native_dropout``
    kernel on CUDA tensors (output + a bool mask saved for backward), while on the CPU, where gpuplan
    traces, it decomposes into a noise tensor of the input's dtype (2-4x the mask's bytes) and a multiply
    (aten/src/ATen/native/Dropout.cpp: ``is_fused_kernel_acceptable`` is true for CUDA tensors with
    0 < p < 1 and numel > 0). In-place dropout (``dropout_``) is not fused on CUDA either: left as it runs."""
    names = ("input", "p", "training", "inplace") if func is F.dropout else ("input", "p", "train")
    bound = dict(zip(names, args, strict=False)) | kwargs
    x = bound.get("input")
    p = float(bound.get("p", 0.5))
    train = bool(bound.get("training", bound.get("train", True)))
    if (not isinstance(x, torch.Tensor) or bound.get("inplace", False) or not train or not 0.0 < p < 1.0
            or not x.is_floating_point() or x.numel() == 0):
        return None
    return torch.native_dropout(x, p, True)[0]


def _math_sdpa_cuda_dropout(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
                            dropout_p: float, is_causal: bool, scale: float | None) -> torch.Tensor:
    """``_scaled_dot_product_attention_math`` with attention dropout, op for op as it runs on CUDA tensors
    (checked against its dispatch on fake CUDA tensors): the composite's ``at::dropout`` takes the fused
    kernel there (a 1-byte mask), where on the CPU it would make a noise tensor of the scores' dtype.
    Half inputs are computed in float32 on both devices; both outputs (the attention output and the
    probabilities, unused) are cast back."""
    origin = q.dtype
    if origin in (torch.float16, torch.bfloat16):
        q, k, v = q.float(), k.float(), v.float()
    sf = math.sqrt(scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    mask = attn_mask
    if is_causal:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    if mask is not None and mask.dtype == torch.bool:
        mask = torch.zeros((), dtype=q.dtype).masked_fill(mask.logical_not(), float("-inf"))
    attn = torch.matmul(q * sf, k.transpose(-2, -1) * sf)
    if mask is not None:
        attn = attn + mask
    attn = torch.ops.aten._safe_softmax(attn, -1)
    attn = torch.native_dropout(attn, dropout_p, True)[0]
    _probs = attn.to(origin)  # the composite's second output, made and dropped
    del _probs
    return torch.matmul(attn, v).to(origin)


class _Reentered:
    """Enter a TorchFunctionMode for one recomputation (a mode object can be entered again)."""

    def __init__(self, mode: TargetKernels) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        # checkpoint stops a recomputation as soon as it has what backward needs: the forward hooks of the
        # modules it stopped in never pop their names, so the recorder's module stack is restored here
        self._modules = list(self.mode.rec.module_stack)
        self.mode.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.mode.__exit__(*exc)
        self.mode.rec.module_stack[:] = self._modules


class TargetKernels(TorchFunctionMode):
    """Route SDPA and RNN calls to emulations of the target GPU's kernels."""

    def __init__(self, profile: KernelProfile, recorder: Recorder) -> None:
        super().__init__()
        self.profile = profile
        self.rec = recorder
        self.backends_used: set[str] = set()

    def recompute_contexts(self) -> tuple[contextlib.AbstractContextManager[Any], contextlib.AbstractContextManager[Any]]:
        """``context_fn`` for torch.utils.checkpoint: torch-function modes are not active while backward
        recomputes a checkpointed block, so the recomputation re-enters this mode (else it would run the
        CPU's own SDPA/RNN kernels and save different tensors than the forward did)."""
        return contextlib.nullcontext(), _Reentered(self)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return self._sdpa(*args, **kwargs)
        if func in _GROUPED_MM and len(args) >= 2 and args[0].dtype in (torch.float16, torch.float32) \
                and args[0].dim() == 2 \
                and args[1].dim() == 3 and kwargs.get("bias") is None:
            return _GroupedMatmul.apply(args[0], args[1], kwargs.get("offs", args[2] if len(args) > 2 else None),
                                            self.rec)
        if func is F.dropout or func is torch.dropout:
            handled = _fused_dropout(func, args, kwargs)
            if handled is not None:
                return handled
        if func is torch._VF.lstm or func is torch._VF.gru or func is torch._VF.rnn_tanh or func is torch._VF.rnn_relu:
            handled = self._rnn(func, args, kwargs)
            if handled is not None:
                return handled
        return func(*args, **kwargs)

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
              dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
              enable_gqa: bool = False) -> torch.Tensor:
        if torch.is_autocast_enabled("cpu"):
            low = torch.get_autocast_dtype("cpu")
            q, k, v = (t.to(low) if t.is_floating_point() and t.dtype != low else t for t in (q, k, v))
        if attn_mask is not None and attn_mask.dtype == torch.bool and is_causal:
            is_causal = False
        backend = choose_sdpa_backend(self.profile, q.dtype, attn_mask is not None, q.shape[-1])
        if enable_gqa and k.shape[-3] != q.shape[-3] and (backend == "math" or q.dim() != 4
                                                          or torch.is_grad_enabled()):
            # Without autograd the fused CUDA kernels take GQA natively (torch.nn.functional
            # scaled_dot_product_attention docs, PyTorch >= 2.5: FlashAttention and memory-efficient
            # attention support GQA on NVIDIA CUDA): K/V are not repeated. The math kernel repeats them;
            # in training the repeat stands for FlashAttention-2's expanded dK/dV in backward.
            rep = q.shape[-3] // k.shape[-3]
            k = k.repeat_interleave(rep, dim=-3)
            v = v.repeat_interleave(rep, dim=-3)
        self.backends_used.add(backend)
        if q.dim() != 4 or backend == "math":
            # (this mode is not active inside its own handler, so the math ops are traced as they run)
            if dropout_p > 0.0 and torch.is_grad_enabled():
                return _math_sdpa_cuda_dropout(q, k, v, attn_mask, dropout_p, is_causal, scale)
            return torch.ops.aten._scaled_dot_product_attention_math(
                q, k, v, attn_mask, dropout_p, is_causal, None, scale=scale)[0]
        if backend == "flash":
            out = _FlashAttention.apply(q, k, v, is_causal, self.rec)
        else:
            out = _MemEfficientAttention.apply(q, k, v, attn_mask, is_causal, self.rec)
        # fused kernels regenerate any dropout mask from the RNG state: no extra memory
        return out

    def _rnn(self, func: Any, args: Any, kwargs: Any) -> Any:
        # _VF.lstm(input, hx, flat_weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        if kwargs or len(args) != 9 or (not isinstance(args[1], (list, tuple)) and func is torch._VF.lstm):
            return None  # packed sequences or another overload: leave to the CPU path (noted by caller)
        x, hx, weights, _bias, num_layers, _dropout, train, bidirectional, batch_first = args
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            return None
        mode = {torch._VF.lstm: "LSTM", torch._VF.gru: "GRU", torch._VF.rnn_tanh: "RNN_TANH",
                torch._VF.rnn_relu: "RNN_RELU"}[func]
        if mode == "LSTM":
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        hidden = h0.shape[-1]
        weights = list(weights)
        if torch.is_autocast_enabled("cpu"):
            low = torch.get_autocast_dtype("cpu")
            x = x.to(low)
            h0 = h0.to(low)
            c0 = c0.to(low) if c0 is not None else None
            weights = [w.to(low) for w in weights]
        training = bool(train) and torch.is_grad_enabled()
        res = _CudnnRNN.apply(x, h0, c0, mode, hidden, int(num_layers), bool(bidirectional), bool(batch_first),
                              training, self.rec, *weights)
        self.backends_used.add("cudnn_rnn")
        if mode == "LSTM":
            out, hy, cy = res
            return out, hy, cy
        out, hy = res
        return out, hy

