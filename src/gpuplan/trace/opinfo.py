"""Op classes and FLOP counts of aten ops.

FLOPs come from PyTorch's own registry (``torch.utils.flop_counter``: matmul, conv, SDPA, their
backward), which counts a multiply-add as 2 FLOPs. Ops the registry does not know are
elementwise/reduction-like; they are timed by bytes moved, so their FLOPs are left at one per
output element.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import conv_flop_count, flop_registry

from gpuplan.trace.records import OpClass

_VIEW = {
    "view", "_unsafe_view", "reshape", "expand", "permute", "transpose", "t", "squeeze", "unsqueeze", "slice",
    "select", "as_strided", "alias", "detach", "split", "split_with_sizes", "unbind", "chunk", "narrow",
    "view_as", "expand_as", "_reshape_alias", "unflatten", "flatten", "diagonal", "lift_fresh", "empty",
    "empty_like", "empty_strided", "new_empty", "new_empty_strided", "_to_copy_noop", "set_", "resize_",
}
_MATMUL = {"mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul", "linear", "addmv", "mv", "dot", "_int_mm",
           "_weight_int8pack_mm", "_weight_int4pack_mm", "_grouped_mm"}
_CONV = {"convolution", "convolution_backward", "_convolution", "cudnn_convolution", "conv2d", "conv1d", "conv3d"}
_NORM = {"native_batch_norm", "native_batch_norm_backward", "_native_batch_norm_legit",
         "_native_batch_norm_legit_functional", "native_layer_norm", "native_layer_norm_backward",
         "native_group_norm", "native_group_norm_backward", "_fused_rms_norm", "_fused_rms_norm_backward",
         "cudnn_batch_norm", "cudnn_batch_norm_backward", "_batch_norm_with_update",
         "_batch_norm_with_update_functional", "batch_norm_backward", "_native_batch_norm_legit_no_training"}
_REDUCTION = {"sum", "mean", "amax", "amin", "max", "min", "_softmax", "_log_softmax", "_softmax_backward_data",
              "_log_softmax_backward_data", "nll_loss_forward", "nll_loss_backward", "var_mean", "var", "std",
              "norm", "linalg_vector_norm", "argmax", "argmin", "cumsum", "logsumexp", "prod", "topk", "sort"}
_EMBED = {"embedding", "embedding_dense_backward", "index_select", "gather", "scatter", "scatter_add",
          "index", "index_put", "index_put_", "_index_put_impl_", "index_add", "embedding_backward",
          "_embedding_bag", "masked_fill", "where"}
_POOL = {"max_pool2d_with_indices", "max_pool2d_with_indices_backward", "avg_pool2d", "avg_pool2d_backward",
         "_adaptive_avg_pool2d", "_adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
         "adaptive_max_pool2d_backward", "max_pool3d_with_indices", "avg_pool3d", "_adaptive_avg_pool3d"}
_COPY = {"_to_copy", "copy_", "clone", "cat", "stack", "contiguous", "constant_pad_nd", "repeat", "zeros_like",
         "ones_like", "zeros", "ones", "full", "fill_", "zero_", "new_zeros", "new_ones", "full_like",
         "arange", "randn", "rand", "randint", "randperm", "normal_", "uniform_", "bernoulli_", "native_dropout",
         "native_dropout_backward", "roll", "flip", "tril", "triu", "new_full", "scalar_tensor"}


def op_base_name(func: Any) -> str:
    """'aten.mm.default' -> 'mm'."""
    return str(func.overloadpacket.__name__) if hasattr(func, "overloadpacket") else str(func)


def classify_op(func: Any, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> OpClass:
    base = op_base_name(func)
    if base.startswith("_foreach_") or base in ("_fused_adam_", "_fused_adamw_", "_fused_sgd_"):
        return OpClass.OPTIMIZER
    if base in _VIEW or (base.endswith("_copy") and base[:-5] in _VIEW):
        return OpClass.VIEW
    if base in _MATMUL:
        return OpClass.MATMUL
    if base in _CONV:
        return OpClass.CONV
    if base.startswith("_scaled_dot_product") or base.startswith("_flash_attention") or base.startswith(
            "_efficient_attention"):
        return OpClass.ATTENTION
    if base in _NORM:
        return OpClass.NORM
    if base in _REDUCTION:
        return OpClass.REDUCTION
    if base in _EMBED:
        return OpClass.EMBEDDING
    if base in _POOL:
        return OpClass.POOL
    if base in _COPY:
        return OpClass.COPY
    return OpClass.ELEMENTWISE


def grouped_mm_flops(args: Any) -> float:
    """aten._grouped_mm (MoE experts): a[S, K] against per-group b[G, K, N] -> out[S, N]: every row of
    ``a`` meets one group, so 2·S·K·N (a 3-D ``a`` of G batches: 2·G·M·K·N). PyTorch's flop counter
    has no formula for it."""
    a, b = args[0], args[1]
    n = b.shape[-1]
    if a.dim() == 2:
        return 2.0 * a.shape[0] * a.shape[1] * n
    return 2.0 * a.numel() * n


def conv_backward_flops(args: Any) -> float:
    """aten.convolution_backward: grad-input and grad-weight each do the multiply-adds of the forward
    convolution (every forward MAC ``x·w`` has one ``dy·w`` and one ``x·dy`` counterpart), so
    FLOPs = forward FLOPs × (number of gradients requested). PyTorch's ``conv_backward_flop`` ignores
    ``groups`` in the grad-weight term (it counts it as a dense conv over all channels), which
    overcounts a depthwise conv's backward by its channel count (checked with torch 2.14:
    a 64-channel depthwise 3×3 conv reports 613 MFLOPs backward for 9.4 MFLOPs forward)."""
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(args[7])
    mask = args[10]
    fwd = conv_flop_count(list(x.shape), list(w.shape), list(grad_out.shape), transposed)
    return float(fwd * (int(bool(mask[0])) + int(bool(mask[1]))))


def count_flops(func: Any, args: Any, kwargs: Any, out: Any) -> float:
    """FLOPs of one op: PyTorch's formula where it has one, else one per output element."""
    packet = getattr(func, "overloadpacket", None)
    if packet is torch.ops.aten._grouped_mm:
        return grouped_mm_flops(args)
    if packet is torch.ops.aten.convolution_backward:
        try:
            return conv_backward_flops(args)
        except (IndexError, TypeError, ValueError):  # unexpected signature: PyTorch's formula below
            pass
    fn = flop_registry.get(packet) if packet is not None else None
    if fn is not None:
        try:
            return float(fn(*args, **kwargs, out_val=out))
        except Exception:  # a formula that does not accept this overload's arguments
            pass
    total = 0
    for t in out if isinstance(out, (list, tuple)) else [out]:
        if isinstance(t, torch.Tensor):
            total += int(t.numel())
    return float(total)
