"""A minimal stand-in tracer used only to build the timing calibration features.

The product's tracer is ``gpuplan.trace.trace_workload``. Until it exists, the fit needs op records
of the calibration workloads (ResNet-50, VGG16, BERT-base, a few timm models), so this module runs one
step of a model under ``FakeTensorMode`` on the CPU and records, per aten op: class, phase, dtype,
FLOPs (``torch.utils.flop_counter`` registry), bytes in/out and input shapes. No memory events, no
module paths, no attention/RNN kernel emulation. ``scripts/fit_timing.py --rebuild-features`` uses the
product tracer when it is importable and falls back to this one otherwise (the features file records
which one was used).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count

from gpuplan.trace.records import KernelProfile, OpClass, OpRecord, Phase, Trace

_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "_scaled_mm", "linear", "matmul", "addbmm"}
_CONV = {"convolution", "_convolution", "convolution_backward", "cudnn_convolution", "_slow_conv2d_forward"}
_ATTN = {
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
}
_NORM = {
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_functional",
    "_native_batch_norm_legit_no_training",
    "native_batch_norm_backward",
    "native_layer_norm",
    "native_layer_norm_backward",
    "native_group_norm",
    "native_group_norm_backward",
    "_batch_norm_with_update",
    "batch_norm_backward",
    "_fused_rms_norm",
    "_fused_rms_norm_backward",
}
_REDUCTION = {
    "sum",
    "mean",
    "_softmax",
    "_log_softmax",
    "_softmax_backward_data",
    "_log_softmax_backward_data",
    "nll_loss_forward",
    "nll_loss_backward",
    "amax",
    "max",
    "var_mean",
    "norm",
    "linalg_vector_norm",
    "_foreach_norm",
    "mse_loss",
    "mse_loss_backward",
}
_EMBED = {"embedding", "embedding_dense_backward", "index_select", "gather", "scatter", "index", "index_put"}
_POOL = {
    "max_pool2d_with_indices",
    "max_pool2d_with_indices_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "_adaptive_avg_pool2d",
    "_adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
}
_COPY = {"_to_copy", "copy_", "clone", "cat", "stack", "contiguous", "_unsafe_view", "constant_pad_nd"}
_VIEW = {
    "view",
    "t",
    "transpose",
    "permute",
    "expand",
    "reshape",
    "squeeze",
    "unsqueeze",
    "as_strided",
    "detach",
    "alias",
    "slice",
    "select",
    "split",
    "split_with_sizes",
    "unbind",
    "_reshape_alias",
    "lift_fresh",
    "empty",
    "empty_like",
    "empty_strided",
    "new_empty",
    "new_empty_strided",
    "zeros_like",
    "_local_scalar_dense",
    "is_same_size",
    "sym_size",
    "sym_stride",
    "set_",
    "_has_compatible_shallow_copy_type",
    "resolve_conj",
    "resolve_neg",
    "_propagate_xla_data",
    "result_type",
    "ones_like",
    "device",
    "_record_function_enter_new",
    "_record_function_exit",
    "_record_function_enter",
}


def classify(name: str) -> OpClass:
    """Op class from an aten op name (packet name without the ``aten.`` prefix)."""
    if name in _MATMUL:
        return OpClass.MATMUL
    if name in _CONV:
        return OpClass.CONV
    if name in _ATTN:
        return OpClass.ATTENTION
    if name in _NORM:
        return OpClass.NORM
    if name in _REDUCTION:
        return OpClass.REDUCTION
    if name in _EMBED:
        return OpClass.EMBEDDING
    if name in _POOL:
        return OpClass.POOL
    if name in _VIEW:
        return OpClass.VIEW
    if name in _COPY:
        return OpClass.COPY
    if name.startswith("_foreach_") or name.startswith("_fused_"):
        return OpClass.OPTIMIZER
    return OpClass.ELEMENTWISE


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[OpRecord] = []
        self.phase = Phase.FORWARD

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        name = packet.__name__
        op_class = classify(name)
        if op_class is OpClass.VIEW:
            return out
        in_flat, _ = tree_flatten((args, kwargs))
        out_flat, _ = tree_flatten(out)
        tin = [a for a in in_flat if isinstance(a, torch.Tensor)]
        tout = [o for o in out_flat if isinstance(o, torch.Tensor)]
        flops = 0.0
        formula = flop_registry.get(packet)
        if name == "_scaled_dot_product_flash_attention_for_cpu":
            q, k, v = (tuple(a.shape) for a in args[:3])
            flops = float(sdpa_flop_count(q, k, v))
        elif name == "_scaled_dot_product_flash_attention_for_cpu_backward":
            g, q, k, v = (tuple(a.shape) for a in args[:4])
            flops = float(sdpa_backward_flop_count(g, q, k, v))
        elif formula is not None:
            flops = float(formula(*args, **kwargs, out_val=out))
        elif op_class not in (OpClass.COPY, OpClass.EMBEDDING):
            flops = float(sum(o.numel() for o in tout))
        dtype = _compute_dtype(tin, tout)
        bytes_in = sum(_nbytes(t) for t in tin)
        bytes_out = sum(_nbytes(t) for t in tout)
        if name.endswith("_") and not name.startswith("_foreach"):
            bytes_out = max(bytes_out, 0)
        launches = 1
        if name.startswith("_foreach_"):
            # multi_tensor_apply: one launch per ~ (chunks of 65536 elems, up to 110 tensors / 320 blocks)
            numel = sum(t.numel() for t in tin)
            launches = max(1, math.ceil(len(tin) / 110), math.ceil(numel / (320 * 65536)))
        tc = op_class in (OpClass.MATMUL, OpClass.CONV, OpClass.ATTENTION) and dtype in (
            "float16",
            "bfloat16",
            "float32",
        )
        self.ops.append(
            OpRecord(
                index=len(self.ops),
                name=f"aten.{name}",
                op_class=op_class,
                phase=self.phase,
                module="",
                dtype=dtype,
                flops=flops,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                shapes=tuple(tuple(t.shape) for t in tin),
                launches=launches,
                tensor_core_eligible=tc,
            )
        )
        return out


def _fakeify(model: torch.nn.Module, fake_mode: Any) -> torch.nn.Module:
    """Replace a real model's parameters and buffers by fake tensors of the same shapes."""
    for mod in model.modules():
        for name, p in list(mod._parameters.items()):
            if p is not None:
                mod._parameters[name] = torch.nn.Parameter(fake_mode.from_tensor(p.detach()),
                                                           requires_grad=p.requires_grad)
        for name, b in list(mod._buffers.items()):
            if b is not None:
                mod._buffers[name] = fake_mode.from_tensor(b)
    return model


def _to_half(model: torch.nn.Module) -> None:
    """model.half() without module._apply (which cannot swap fake tensors that have weakrefs)."""
    for mod in model.modules():
        for name, p in list(mod._parameters.items()):
            if p is not None and p.is_floating_point():
                mod._parameters[name] = torch.nn.Parameter(p.detach().half(), requires_grad=p.requires_grad)
        for name, b in list(mod._buffers.items()):
            if b is not None and b.is_floating_point():
                mod._buffers[name] = b.half()


def _compute_dtype(tin: list[torch.Tensor], tout: list[torch.Tensor]) -> str:
    for t in tin + tout:
        if t.is_floating_point():
            return str(t.dtype).removeprefix("torch.")
    return str((tin + tout)[0].dtype).removeprefix("torch.") if (tin or tout) else "float32"


def _autocast(amp_dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """CUDA autocast policy emulated on the CPU (gpuplan.trace.autocast) when available."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    try:
        from gpuplan.trace.autocast import cuda_autocast
    except ImportError:
        return torch.autocast("cpu", dtype=amp_dtype)
    return cuda_autocast(amp_dtype)


@contextlib.contextmanager
def _phase(rec: _Recorder, phase: Phase) -> Iterator[None]:
    old = rec.phase
    rec.phase = phase
    try:
        yield
    finally:
        rec.phase = old


def trace_step(
    build_model: Callable[[], torch.nn.Module],
    make_inputs: Callable[[int], dict[str, torch.Tensor]],
    loss_fn: Callable[[Any, dict[str, torch.Tensor]], torch.Tensor] | None,
    batch: int,
    *,
    amp_dtype: torch.dtype | None = None,
    optimizer: str = "sgd-momentum",
    train: bool = True,
    workload_key: str = "",
    half: bool = False,
) -> Trace:
    """Record the ops of one step (train: forward, loss, backward, optimizer; infer: forward)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake_mode = FakeTensorMode(allow_non_fake_inputs=False)
    try:
        with fake_mode:
            model = build_model()
    except Exception:  # init code that reads tensor values (timm trunc_normal_): build for real, then fake
        model = _fakeify(build_model(), fake_mode)
    with fake_mode:
        if half:
            _to_half(model)
        if not train:
            model.eval()
        inputs = make_inputs(batch)
        params = [p for p in model.parameters() if p.requires_grad]
        opt: torch.optim.Optimizer | None = None
        if train:
            if optimizer == "adamw":
                opt = torch.optim.AdamW(params, lr=1e-4, foreach=True)
            else:
                opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=True)
            # one warm step outside the recorder so momentum/state buffers exist (steady state)
            for p in params:
                p.grad = torch.zeros_like(p)
            opt.step()
            opt.zero_grad(set_to_none=True)
        rec = _Recorder()
        grad_ctx = contextlib.nullcontext() if train else torch.no_grad()
        with rec, grad_ctx:
            with _phase(rec, Phase.FORWARD), _autocast(amp_dtype):
                out = model(**inputs)
            if train:
                assert loss_fn is not None
                with _phase(rec, Phase.LOSS), _autocast(amp_dtype):
                    loss = loss_fn(out, inputs)
                with _phase(rec, Phase.BACKWARD):
                    loss.backward()
                assert opt is not None
                with _phase(rec, Phase.OPTIMIZER):
                    opt.step()
                    opt.zero_grad(set_to_none=True)
        n_params = sum(p.numel() for p in model.parameters())
    return Trace(
        workload_key=workload_key,
        batch=batch,
        kernel_profile=KernelProfile(),
        ops=rec.ops,
        events=[],
        param_count=n_params,
        trainable_param_count=sum(p.numel() for p in params),
        bytes_by_category={},
        module_activation_bytes={},
        warnings=["interim timing tracer (gpuplan.timing._interim_trace): no memory events"],
    )


# --------------------------------------------------------------------------------------------------
# Calibration workloads (model builders for the interim tracer)
# --------------------------------------------------------------------------------------------------


def _image_inputs(batch: int) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(batch, 3, 224, 224)}


def _ce_loss(out: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    target = torch.zeros(out.shape[0], dtype=torch.long)
    return torch.nn.functional.cross_entropy(out, target)


class _Wrap(torch.nn.Module):
    def __init__(self, m: torch.nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> Any:
        return self.m(x)


def _vision_builder(model: str) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        if model.startswith("timm:"):
            import timm

            return _Wrap(timm.create_model(model.removeprefix("timm:"), pretrained=False))
        import torchvision

        return _Wrap(getattr(torchvision.models, model)())

    return build


def _bert_qa(seq: int) -> tuple[Callable[[], torch.nn.Module], Callable[[int], dict[str, torch.Tensor]]]:
    from transformers import BertConfig, BertForQuestionAnswering

    class QA(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cfg = BertConfig()  # defaults = bert-base-uncased
            cfg._attn_implementation = "eager"  # NGC BERT (2020-2024) runs unfused attention
            self.m = BertForQuestionAnswering(cfg)

        def forward(self, **kw: torch.Tensor) -> Any:
            return self.m(**kw).loss

    def inputs(batch: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": torch.zeros(batch, seq, dtype=torch.long),
            "token_type_ids": torch.zeros(batch, seq, dtype=torch.long),
            "attention_mask": torch.ones(batch, seq, dtype=torch.long),
            "start_positions": torch.zeros(batch, dtype=torch.long),
            "end_positions": torch.zeros(batch, dtype=torch.long),
        }

    return QA, inputs


def trace_calibration_workload(model: str, train: bool, optimizer: str, seq_len: int | None,
                               amp_dtype: torch.dtype | None, batch: int, key: str,
                               half: bool = False) -> Trace:
    """One step of a calibration workload under the interim tracer."""
    if model == "bert-base-uncased":
        build, inputs = _bert_qa(seq_len or 384)
        return trace_step(build, inputs, lambda out, _i: out, batch, amp_dtype=amp_dtype,
                          optimizer=optimizer, train=train, workload_key=key, half=half)
    def inputs(b: int) -> dict[str, torch.Tensor]:
        x = _image_inputs(b)
        return {k: v.half() for k, v in x.items()} if half else x

    return trace_step(_vision_builder(model), inputs, _ce_loss, batch, amp_dtype=amp_dtype,
                      optimizer=optimizer, train=train, workload_key=key, half=half)
