"""Trace one steady-state step of a workload under fake tensors (nothing is allocated).

The model is built inside ``FakeTensorMode`` on the CPU device (so even a 70B model costs no
memory), then one step runs with a recorder that logs ops and storage lifetimes, while
``TargetKernels`` emulates the target GPU's SDPA/RNN kernels and ``CudaAutocastPolicy`` applies CUDA's
autocast policy. Autograd on fake *CUDA* tensors needs a driver, so CPU fake tensors stand in
for device tensors: every storage the step creates is a device allocation, except 0-dim host
scalars (e.g. Adam's step counters).

Steady state (training): the optimizer state already exists when the step starts; gradients are
None at the start (``zero_grad(set_to_none=True)``, the PyTorch default) and alive at its end
(``extra set_to_none=False``: zeroed in place, allocated throughout, as PyTorch 1.x's default did);
the model outputs are dropped once the loss is computed (as HF Trainer does); with gradient
accumulation, two micro-steps are traced (the second one meets existing gradients) and the
timing engine scales forward/backward by the number of micro-steps.
"""

from __future__ import annotations

import time
from contextlib import ExitStack, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from gpuplan.errors import ModelBuildError, TraceError, UsageError
from gpuplan.i18n import msg
from gpuplan.trace.accumulate import (
    AccumulationMarks,
    SecondStepPlan,
    StepSpan,
    plan_second_micro_step,
    second_micro_step,
)
from gpuplan.trace.autocast import CudaAutocastPolicy
from gpuplan.trace.hostconst import HostConstants, fakeify_host_tensors
from gpuplan.trace.kernels import TargetKernels
from gpuplan.trace.pool import note_backward, one_fake_session
from gpuplan.trace.recorder import Recorder, SkipInplaceForeach
from gpuplan.trace.records import Category, EventKind, KernelProfile, MemEvent, Phase, Trace
from gpuplan.workload import techniques
from gpuplan.workload.optimizers import Adafactor, Adam8bit
from gpuplan.workload.spec import InputSpec, Mode, OptimizerKind, Precision, Workload
from gpuplan.workload.zoo import ModelSpec, resolve_model

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64,
           "int32": torch.int32, "bool": torch.bool, "uint8": torch.uint8, "float64": torch.float64}
AMP_SCALE = 65536.0  # GradScaler's default init_scale


def parse_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise UsageError(msg("Unknown input dtype {name}; allowed: {allowed}.", name=repr(name),
                             allowed=", ".join(_DTYPES))) from None


def _low_dtype(p: Precision) -> torch.dtype | None:
    return {Precision.AMP_FP16: torch.float16, Precision.FP16: torch.float16, Precision.AMP_BF16: torch.bfloat16,
            Precision.BF16: torch.bfloat16, Precision.INT8: torch.float16, Precision.INT4: torch.float16,
            Precision.NF4: torch.float16}.get(p)


def _effective_inputs(w: Workload, spec: ModelSpec) -> tuple[InputSpec, ...]:
    inputs = w.inputs or spec.inputs
    if w.seq_len and not w.inputs:
        inputs = tuple(InputSpec((w.seq_len, *i.shape[1:]), i.dtype, i.name) if i.dtype == "int64" else i
                       for i in inputs)
    return inputs


def _make_optimizer(kind: OptimizerKind, params: list[nn.Parameter], foreach: bool = True
                    ) -> torch.optim.Optimizer | None:
    """The optimizer as PyTorch builds it on CUDA: the multi-tensor (foreach) implementation is the
    CUDA default (torch.optim._default_to_fused_or_foreach), so we ask for it explicitly
    (``foreach=False`` gives the per-parameter loop older Hugging Face AdamW used)."""
    if not params:
        return None
    if kind is OptimizerKind.SGD:
        return torch.optim.SGD(params, lr=0.01, foreach=foreach)
    if kind is OptimizerKind.SGD_MOMENTUM:
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)
    if kind is OptimizerKind.ADAM:
        return torch.optim.Adam(params, foreach=foreach)
    if kind is OptimizerKind.ADAMW:
        return torch.optim.AdamW(params, foreach=foreach)
    if kind is OptimizerKind.ADAFACTOR:
        return Adafactor(params)
    if kind is OptimizerKind.ADAM8BIT:
        return Adam8bit(params)
    raise UsageError(msg("Unknown optimizer {name}.", name=repr(kind)))


class _Hooks:
    """Global module forward hooks that keep the recorder's module stack."""

    def __init__(self, model: nn.Module, rec: Recorder) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.rec = rec
        self.handles: list[Any] = []

    def __enter__(self) -> _Hooks:
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        def pre(mod: nn.Module, _args: Any) -> None:
            self.rec.module_stack.append(self.names.get(id(mod), type(mod).__name__))

        def post(mod: nn.Module, _args: Any, _out: Any) -> None:
            if self.rec.module_stack:
                self.rec.module_stack.pop()

        self.handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()


def _batch_inputs(spec: ModelSpec, inputs: tuple[InputSpec, ...], batch: int, float_dtype: torch.dtype | None,
                  vocab: int | None) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for i in inputs:
        dt = parse_dtype(i.dtype)
        shape = (batch, *i.shape)
        if dt.is_floating_point:
            t = torch.randn(shape, dtype=float_dtype or dt)
        elif dt == torch.bool:
            t = torch.ones(shape, dtype=dt)
        else:
            t = torch.randint(0, max(2, min(vocab or 1000, 2**31 - 1)), shape, dtype=dt)
        if i.name:
            kwargs[i.name] = t
        else:
            args.append(t)
    return args, kwargs


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    for attr in ("logits", "last_hidden_state"):
        v = getattr(out, attr, None)
        if isinstance(v, torch.Tensor):
            return v
    if isinstance(out, dict):
        for v in out.values():
            if isinstance(v, torch.Tensor):
                return v
    if isinstance(out, (list, tuple)):
        for v in out:
            if isinstance(v, torch.Tensor):
                return v
    raise TraceError(msg("The model output contains no tensor to compute a loss from."),
                     hint=msg("Give --loss, or return a tensor from forward()."))


def _loss(spec: ModelSpec, loss_kind: str, out: Any, batch: int, labels: torch.Tensor | None) -> torch.Tensor:
    if loss_kind == "model":
        loss = getattr(out, "loss", None)
        if loss is None and isinstance(out, dict):
            loss = out.get("loss")
        if loss is None:
            return _first_tensor(out).float().mean()
        return loss
    y = _first_tensor(out)
    if loss_kind == "cross-entropy":
        if y.dim() == 2 and labels is not None:
            return F.cross_entropy(y, labels)
        return y.float().mean()
    if loss_kind == "mse":
        return F.mse_loss(y, torch.zeros_like(y))
    if loss_kind == "mean":
        return y.float().mean() if y.is_floating_point() else y.sum().float()
    raise UsageError(msg("Unknown loss {name}; allowed: {allowed}.", name=repr(loss_kind),
                         allowed="cross-entropy, mse, mean, model"))


def build_model(spec: ModelSpec, w: Workload, fake: FakeTensorMode) -> nn.Module:
    """Build the model under ``fake`` as the workload runs it: weights in the target dtype, weight-only
    quantized Linears, frozen parameters, LoRA adapters (shared by the step and the generate tracer)."""
    low = _low_dtype(w.precision)
    pure_low = w.precision in (Precision.FP16, Precision.BF16)
    build_dtype = low if (pure_low or w.precision.is_weight_only_quant) and low is not None else None
    with fake:
        # build directly in the target dtype (model.half() on fake parameters cannot swap tensors
        # that other objects hold weak references to)
        previous = torch.get_default_dtype()
        try:
            if build_dtype is not None:
                torch.set_default_dtype(build_dtype)
            with HostConstants():
                model = spec.build()
            fakeify_host_tensors(model, fake)
        except ModelBuildError:
            raise
        except Exception as e:
            raise ModelBuildError(msg("Building {model} failed: {error}", model=repr(spec.name),
                                      error=f"{type(e).__name__}: {e}")) from e
        finally:
            torch.set_default_dtype(previous)
        if w.precision.is_weight_only_quant:
            techniques.quantize_linears(model, str(w.precision), low or torch.float16)
        if w.freeze:
            techniques.freeze(model, w.freeze)
        if w.lora_rank:
            techniques.apply_lora(model, w.lora_rank, w.lora_targets)
    return model


@one_fake_session
def trace_workload(w: Workload, profile: KernelProfile | None = None, *, trace_second_micro_step: bool = False
                   ) -> Trace:
    """Trace one step of ``w`` as a GPU with ``profile``'s kernels would run it.

    With gradient accumulation the second micro-step is derived from the first
    (:mod:`gpuplan.trace.accumulate`: the same trace, one forward/backward pass cheaper) unless
    ``trace_second_micro_step``, or unless the step is one the derivation does not cover."""
    profile = profile or KernelProfile()
    if w.batch <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--batch", value=w.batch))
    if w.grad_accum <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--grad-accum", value=w.grad_accum))
    if w.mode is Mode.GENERATE:
        from gpuplan.trace.generate import trace_generate  # imports this module

        return trace_generate(w, profile)
    if w.precision.is_weight_only_quant and w.mode is Mode.TRAIN and not w.lora_rank:
        raise UsageError(msg("--precision {precision} stores frozen quantized weights: training needs LoRA (QLoRA): "
                             "add --lora-rank R, or use --mode infer.", precision=w.precision.value))
    t0 = time.perf_counter()
    spec = resolve_model(w)
    inputs = _effective_inputs(w, spec)
    low = _low_dtype(w.precision)
    pure_low = w.precision in (Precision.FP16, Precision.BF16)
    training = w.mode is Mode.TRAIN
    rec = Recorder()
    kernels = TargetKernels(profile, rec)
    fake = FakeTensorMode(allow_non_fake_inputs=True)  # host constants made at build time (HostConstants)
    model = build_model(spec, w, fake)
    keep_grads = training and not w.zero_grad_set_to_none  # zero_grad(set_to_none=False)
    with fake:
        if w.checkpointing and training:
            techniques.enable_checkpointing(model, kernels.recompute_contexts)
        model.train(training)
        params = [p for p in model.parameters() if p.requires_grad] if training else []
        optimizer = _make_optimizer(w.optimizer, params, bool(dict(w.extra).get("foreach", True))) if training else None
        if optimizer is not None:
            # create the optimizer state (steady state), outside the recorder
            for p in params:
                p.grad = torch.zeros_like(p)
            with SkipInplaceForeach():
                optimizer.step()
            # zero_grad(set_to_none=True) is PyTorch's default since 2.0; with set_to_none=False (the default
            # of 1.x, which e.g. HF Trainer's model.zero_grad() then used) the zeroed gradients stay allocated
            optimizer.zero_grad(set_to_none=keep_grads is False)
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad) if training else 0
    vocab = spec.vocab_size
    if spec.hf and spec.hf_task in ("image-classification", "seq-classification"):
        num_classes = int(getattr(getattr(model, "config", None), "num_labels", 2))
    else:
        num_classes = spec.num_classes
    loss_kind = w.loss or spec.loss
    # with accumulation: one micro-step traced, the second derived from it (trace.accumulate)
    derive = training and w.grad_accum > 1 and not trace_second_micro_step
    micro_steps = min(w.grad_accum, 2) if training else 1
    marks = AccumulationMarks(rec, params)
    plan: SecondStepPlan | None = None
    forward_end_event = 0
    forward_blocks: set[int] = set()
    with ExitStack() as stack:
        stack.enter_context(fake)
        stack.enter_context(rec)
        stack.enter_context(kernels)
        stack.enter_context(_Hooks(model, rec))
        amp = (stack.enter_context(CudaAutocastPolicy(low))
               if (w.precision.is_amp and low is not None) else None)
        rec.phase = Phase.SETUP
        for p in model.parameters():
            rec.track(p, Category.PARAMETER)
        for name, b in model.named_buffers():
            cat = Category.PARAMETER if name.endswith(("packed", "scales")) else Category.BUFFER
            rec.track(b, cat)
        if optimizer is not None and keep_grads:
            for p in params:
                if p.grad is not None:
                    rec.track(p.grad, Category.GRADIENT)
        if optimizer is not None:
            for state in optimizer.state.values():
                for v in state.values():
                    if isinstance(v, torch.Tensor) and v.dim() > 0:
                        rec.track(v, Category.OPTIMIZER_STATE)
        if derive:
            stack.enter_context(marks)
        events_start = len(rec.events)
        try:
            for micro in range(micro_steps):
                if micro == 1 and derive:
                    span = StepSpan(events_start, len(rec.events), len(rec.ops), rec.next_block)
                    plan = plan_second_micro_step(rec.events, marks, span,
                                                  {b for p in params if (b := _grad_block(rec, p)) is not None})
                    if plan is not None:
                        break
                    # not derivable: trace it, as without derivation (hooks off, ops of the last micro-step only)
                    marks.close()
                    rec.forget_ops()
                rec.recording_ops = micro == micro_steps - 1 or derive
                rec.phase = Phase.SETUP
                args, kwargs = _batch_inputs(spec, inputs, w.batch, low if pure_low else None, vocab)
                labels = None
                if spec.hf and spec.hf_task in ("causal-lm", "masked-lm", "seq2seq") and loss_kind == "model":
                    kwargs["labels"] = kwargs.get("input_ids", args[0] if args else None)
                elif loss_kind == "cross-entropy" and num_classes:
                    labels = torch.randint(0, num_classes, (w.batch,))
                    if spec.hf and loss_kind == "model":
                        kwargs["labels"] = labels
                if spec.hf and spec.hf_task in ("image-classification", "seq-classification") and loss_kind == "model":
                    kwargs["labels"] = torch.randint(0, max(num_classes or 2, 2), (w.batch,))
                if spec.hf and spec.hf_task == "question-answering" and loss_kind == "model":
                    seq = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
                    kwargs["start_positions"] = torch.randint(0, seq, (w.batch,))
                    kwargs["end_positions"] = torch.randint(0, seq, (w.batch,))
                autocast = amp.region() if amp is not None else nullcontext()
                grad = torch.enable_grad() if training else torch.no_grad()
                n_before = len(rec.events)
                with grad:
                    with autocast:
                        rec.phase = Phase.FORWARD
                        out = model(*args, **kwargs)
                        forward_end_event = len(rec.events)
                        forward_blocks.update(e.block for e in rec.events[n_before:forward_end_event]
                                              if e.kind is EventKind.ALLOC)
                        if training:
                            rec.phase = Phase.LOSS
                            loss = _loss(spec, loss_kind, out, w.batch, labels)
                    del out
                    if training:
                        rec.phase = Phase.BACKWARD
                        if w.grad_accum > 1:
                            loss = loss / w.grad_accum
                        if w.precision is Precision.AMP_FP16:
                            loss = loss * AMP_SCALE
                        note_backward()  # no more forked trace workers from this process (trace.pool)
                        loss.backward()
                        del loss
                del args, kwargs, labels
            if optimizer is not None:
                rec.phase = Phase.OPTIMIZER
                grads = [p.grad for p in params if p.grad is not None]
                if w.precision is Precision.AMP_FP16 and grads:
                    # GradScaler.unscale_: in-place multiply + one found_inf flag
                    found_inf = torch.zeros(1)
                    torch._foreach_mul_(grads, 1.0 / AMP_SCALE)
                    del found_inf
                optimizer.step()
                rec.phase = Phase.SETUP
        except (UsageError, ModelBuildError, TraceError):
            raise
        except Exception as e:
            where = repr(rec.module) if rec.module else msg("the model's top level")
            phase = {Phase.FORWARD: msg("forward"), Phase.LOSS: msg("loss"), Phase.BACKWARD: msg("backward"),
                     Phase.OPTIMIZER: msg("optimizer")}.get(rec.phase, str(rec.phase))
            raise TraceError(
                msg("Tracing the {phase} pass of {model} failed in module {where}: {error}", phase=phase,
                    model=repr(spec.name), where=where,
                    error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"),
                hint=msg("gpuplan traces with fake tensors: data-dependent Python control flow (e.g. .item(), if "
                         "tensor.any()) and custom ops without a meta/fake kernel cannot be traced."),
            ) from e
        grad_blocks = {rec.block_of(p.grad) for p in params if p.grad is not None}
    events = _finalise_categories(rec, grad_blocks, forward_blocks)
    ops = rec.ops
    if plan is not None:
        events, ops = second_micro_step(events, ops, plan, {b for b in grad_blocks if b is not None},
                                        lambda b: rec.blocks[b].category)
    state_bytes: dict[str, int] = {}
    for b in rec.blocks.values():
        if b.phase is Phase.SETUP and b.category in (Category.PARAMETER, Category.BUFFER, Category.OPTIMIZER_STATE):
            state_bytes[b.category.value] = state_bytes.get(b.category.value, 0) + b.nbytes
    state_bytes[Category.GRADIENT.value] = sum(rec.blocks[b].nbytes for b in grad_blocks if b is not None)
    module_act: dict[str, int] = {}
    for e in events:
        if e.kind is EventKind.ALLOC and e.category is Category.ACTIVATION:
            module_act[e.module] = module_act.get(e.module, 0) + e.nbytes
    uncovered = []
    if "math" in kernels.backends_used and profile.attention != "math":
        uncovered.append(msg("attention with a mask or dtype the fused kernels do not take: traced as the math "
                             "backend"))
    trace = Trace(
        workload_key=repr(w.with_batch(0)),
        batch=w.batch,
        kernel_profile=profile,
        ops=ops,
        events=events,
        param_count=n_params,
        trainable_param_count=n_trainable,
        bytes_by_category=state_bytes,
        module_activation_bytes=module_act,
        uncovered=uncovered,
        trace_seconds=time.perf_counter() - t0,
        grad_accum=w.grad_accum,
        family=spec.family,
        kernels_used=tuple(sorted(kernels.backends_used)),
    )
    return trace


def _grad_block(rec: Recorder, p: torch.Tensor) -> int | None:
    return rec.block_of(p.grad) if p.grad is not None else None


def _finalise_categories(rec: Recorder, grad_blocks: set[int | None], forward_blocks: set[int]) -> list[MemEvent]:
    """Final category of each block: gradients; forward storages alive when backward starts are
    activations (saved for backward), the rest of the forward's storages are temporaries."""
    freed_in_forward: set[int] = set()
    phase_of_free: dict[int, Phase] = {}
    for e in rec.events:
        if e.kind is EventKind.FREE:
            phase_of_free.setdefault(e.block, e.phase)
    for blk in forward_blocks:
        if phase_of_free.get(blk) in (Phase.FORWARD,):
            freed_in_forward.add(blk)
    final: dict[int, Category] = {}
    for blk, info in rec.blocks.items():
        cat = info.category
        if blk in grad_blocks:
            cat = Category.GRADIENT
        elif cat is Category.ACTIVATION and blk in freed_in_forward:
            cat = Category.TEMPORARY
        final[blk] = cat
    return [MemEvent(e.kind, e.block, e.nbytes, final.get(e.block, e.category), e.op_index, e.phase, e.module, e.stream)
            for e in rec.events]
