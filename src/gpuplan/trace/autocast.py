"""Emulate CUDA autocast while tracing on the CPU.

CPU autocast and CUDA autocast cast different ops (CPU autocast keeps softmax and layer_norm in
the low-precision dtype; CUDA autocast runs them in fp32), which changes what autograd saves.
So, for the duration of a trace, we override the ``AutocastCPU`` kernels of every op with the
policy CUDA uses. The policy lists follow ``aten/src/ATen/autocast_mode.cpp`` (CUDA section:
``lower_precision_fp``, ``fp32``, ``fp32_set_opt_dtype``, ``fp32_append_dtype``, ``promote``); the
set of ops with an ``AutocastCUDA`` kernel in the installed torch is read from the dispatcher, and
ops that the CPU autocasts but CUDA does not are passed through unchanged.

Weight-cast cache: like CUDA autocast, casts of leaf fp32 tensors that require grad (parameters)
are cached for the duration of the autocast region, so each weight is cast once per forward.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

_LOWER = {
    "_convolution", "_convolution.deprecated", "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d",
    "conv_transpose2d.input", "conv_transpose3d.input", "convolution", "prelu", "addmm", "addmv", "addr",
    "matmul", "einsum", "mm", "mv", "linalg_vecdot", "linear", "addbmm", "baddbmm", "bmm", "chain_matmul",
    "linalg_multi_dot", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "lstm_cell", "gru_cell",
    "rnn_tanh_cell", "rnn_relu_cell", "_scaled_dot_product_flash_attention", "scaled_dot_product_attention",
    "cudnn_convolution", "cudnn_convolution_transpose", "_cudnn_rnn",
}
_FP32 = {
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow.Tensor_Scalar", "pow.Tensor_Tensor", "pow.Scalar", "softplus", "layer_norm",
    "native_layer_norm", "group_norm", "frobenius_norm.dim", "nuclear_norm", "nuclear_norm.dim",
    "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss", "nll_loss", "nll_loss2d",
    "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss",
    "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm", "logsumexp",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
    "_upsample_bilinear2d_aa", "upsample_trilinear3d", "upsample_bicubic2d", "_upsample_bicubic2d_aa",
    "rms_norm", "linalg_matrix_sqrth",
}
_FP32_SET_OPT_DTYPE = {
    "prod", "prod.dim_int", "softmax.int", "log_softmax.int", "cumprod", "cumsum", "linalg_vector_norm",
    "linalg_matrix_norm", "linalg_matrix_norm.str_ord", "sum", "sum.dim_IntList",
}
_FP32_APPEND_DTYPE = {"norm.Scalar", "norm.ScalarOpt_dim"}
_PROMOTE = {"addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "grid_sampler", "index_put",
            "tensordot", "scatter_add", "vdot"}

_KEY = torch._C.DispatchKey.AutocastCPU


def _resolve(qualname: str) -> Any:
    """'aten::softmax.int' -> torch.ops.aten.softmax.int (OpOverload)."""
    name = qualname.split("::", 1)[1]
    base, _, overload = name.partition(".")
    packet = getattr(torch.ops.aten, base)
    return getattr(packet, overload or "default")


class _Caster:
    def __init__(self, low: torch.dtype) -> None:
        self.low = low
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def to(self, t: Any, dtype: torch.dtype) -> Any:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dtype == dtype:
            return t
        if dtype == self.low and t.is_leaf and t.requires_grad and t.dtype == torch.float32:
            hit = self.cache.get(id(t))
            if hit is not None and hit[0] is t:
                return hit[1]
            out = t.to(dtype)
            self.cache[id(t)] = (t, out)
            return out
        return t.to(dtype)

    def cast_all(self, args: Any, dtype: torch.dtype) -> Any:
        if isinstance(args, (list, tuple)):
            return type(args)(self.cast_all(a, dtype) for a in args)
        return self.to(args, dtype)


def _widest(args: Any) -> torch.dtype | None:
    found: list[torch.dtype] = []

    def visit(a: Any) -> None:
        if isinstance(a, (list, tuple)):
            for b in a:
                visit(b)
        elif isinstance(a, torch.Tensor) and a.is_floating_point():
            found.append(a.dtype)

    visit(args)
    if not found:
        return None
    if torch.float64 in found:
        return torch.float64
    if torch.float32 in found:
        return torch.float32
    return found[0]


def _kernel(op: Any, policy: str, caster: _Caster) -> Callable[..., Any]:
    if policy == "passthrough_composite":
        # CUDA autocast has no kernel for this op: run its decomposition so that the ops inside it
        # meet the autocast policy, as they do on CUDA.
        def composite(*args: Any, **kwargs: Any) -> Any:
            return op.decompose(*args, **kwargs)

        return composite

    def kernel(*args: Any, **kwargs: Any) -> Any:
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(_KEY)):
            if policy == "lower":
                args = caster.cast_all(args, caster.low)
            elif policy == "fp32":
                args = caster.cast_all(args, torch.float32)
            elif policy == "fp32_set_opt_dtype":
                first = args[0] if args else None
                names = [a.name for a in op._schema.arguments]
                if (isinstance(first, torch.Tensor) and first.is_floating_point()
                        and first.dtype in (torch.float16, torch.bfloat16) and "dtype" in names):
                    pos = names.index("dtype")
                    if len(args) > pos:
                        if args[pos] is None:
                            args = (*args[:pos], torch.float32, *args[pos + 1:])
                    elif kwargs.get("dtype") is None:
                        kwargs = {**kwargs, "dtype": torch.float32}
            elif policy == "fp32_append_dtype":
                args = caster.cast_all(args, torch.float32)
            elif policy == "promote":
                wide = _widest(args)
                if wide is not None:
                    args = caster.cast_all(args, wide)
            return op(*args, **kwargs)

    return kernel


def _policy_of(name: str) -> str | None:
    short = name.split("::", 1)[1]
    for policy, names in (("lower", _LOWER), ("fp32", _FP32), ("fp32_set_opt_dtype", _FP32_SET_OPT_DTYPE),
                          ("fp32_append_dtype", _FP32_APPEND_DTYPE), ("promote", _PROMOTE)):
        if short in names:
            return policy
    return None


class CudaAutocastPolicy:
    """Registers CUDA's autocast policy on the AutocastCPU key for as long as it is entered.

    Keep it entered for the whole step: activation checkpointing re-enters autocast during the
    backward recomputation and must meet the same policy. ``region()`` is the ``torch.autocast``
    block of the forward pass; leaving it drops the cast-weight cache, as CUDA autocast does.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.caster = _Caster(dtype)
        self.lib: Any = None
        self._clear_autocast_cache: Any = None

    def _clear_caches(self) -> None:
        self._clear_autocast_cache()
        self.caster.cache.clear()

    def __enter__(self) -> CudaAutocastPolicy:
        # torch.autocast clears its cast-weight cache when the outermost autocast block exits
        # (torch/amp/autocast_mode.py: `if autocast_decrement_nesting() == 0: torch.clear_autocast_cache()`):
        # the forward's block, and each checkpointed segment's recomputation in backward. Our cache
        # follows the same rule, so recomputed fp16 weight copies live for one segment, not the step.
        self._clear_autocast_cache = torch.clear_autocast_cache
        torch.clear_autocast_cache = self._clear_caches
        self.lib = torch.library.Library("aten", "IMPL")
        cpu_ops = set(torch._C._dispatch_get_registrations_for_dispatch_key("AutocastCPU"))
        cuda_ops = set(torch._C._dispatch_get_registrations_for_dispatch_key("AutocastCUDA"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for qual in sorted(cpu_ops | cuda_ops):
                try:
                    op = _resolve(qual)
                except (AttributeError, RuntimeError):
                    continue
                policy = _policy_of(qual) if qual in cuda_ops else None
                if policy is None:
                    composite = torch._C._dispatch_has_kernel_for_dispatch_key(qual, "CompositeImplicitAutograd")
                    policy = "passthrough_composite" if composite else "passthrough"
                short = qual.split("::", 1)[1]
                try:
                    self.lib.impl(short, _kernel(op, policy, self.caster), "AutocastCPU")
                except RuntimeError:
                    continue
        return self

    def __exit__(self, *exc: Any) -> None:
        self.caster.cache.clear()
        if self._clear_autocast_cache is not None:
            torch.clear_autocast_cache = self._clear_autocast_cache
            self._clear_autocast_cache = None
        if self.lib is not None:
            self.lib._destroy()
            self.lib = None

    @contextlib.contextmanager
    def region(self) -> Iterator[None]:
        try:
            with torch.autocast("cpu", dtype=self.dtype):
                yield
        finally:
            self.caster.cache.clear()


@contextlib.contextmanager
def cuda_autocast(dtype: torch.dtype) -> Iterator[None]:
    """Within this context, autocast on the CPU casts like CUDA autocast with ``dtype``."""
    with CudaAutocastPolicy(dtype) as policy, policy.region():
        yield
