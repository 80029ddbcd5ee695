"""The techniques ``advise`` may apply, each checked against the model and the GPU.

A :class:`Technique` is one change of the workload (a set of ``Workload`` fields) with what it means for the
user. Whether it helps, and by how much, is never assumed here: the advisor traces every combination and
runs the memory and speed engines on it. What lives here is only *applicability* (does this GPU/library
run it, does this model have anything it acts on) and the words that explain it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gpuplan.advise.hardware import amp_precision, bitsandbytes_support, half_precision
from gpuplan.advise.layout import ModelLayout, freeze_all_but_head, freeze_lower_half
from gpuplan.advise.types import Change, Note, Risk, Skipped
from gpuplan.catalog import GPU
from gpuplan.i18n import msg
from gpuplan.trace.records import Category
from gpuplan.workload.spec import InputSpec, Mode, OptimizerKind, Precision, Workload
from gpuplan.workload.zoo import ModelSpec

LORA_RANK = 8  # PEFT LoraConfig examples and HF docs commonly start at r=8
QLORA_RANK = 16
MIN_LINEAR_SHARE = 0.10  # below this, weight-only quantization of Linear layers is not worth a trace

_PARAM, _GRAD, _OPT, _ACT = (Category.PARAMETER.value, Category.GRADIENT.value, Category.OPTIMIZER_STATE.value,
                             Category.ACTIVATION.value)


@dataclass(frozen=True)
class Technique:
    """One change to a workload and what it means for the user."""

    key: str
    groups: frozenset[str]  # mutually exclusive slots ("precision", "optimizer", "trainable", ...)
    order: int  # position in a combination (stable plan keys and wording)
    fields: tuple[tuple[str, Any], ...]  # Workload fields it sets
    summary: Note
    effect: Note
    risk: Risk
    fast: bool  # expected to raise throughput on this GPU (search order only; the engines decide)
    shrinks: frozenset[str]  # memory categories it can make smaller (to prune hopeless combinations)
    caveats: tuple[Note, ...] = ()

    def apply(self, w: Workload) -> Workload:
        return replace(w, **dict(self.fields))

    def change(self) -> Change:
        return Change(self.key, self.summary, self.effect, self.risk)


@dataclass
class Techniques:
    """What applies to this workload on this GPU, in the order the search tries them, and what was skipped."""

    singles: list[Technique]
    skipped: list[Skipped]
    last_resort: Technique | None  # smaller input: changes the task, tried only when nothing else fits


def _amp(gpu: GPU) -> Technique:
    prec, fast = amp_precision(gpu)
    caveats: tuple[Note, ...] = ()
    if not fast:
        caveats = (Note.of("{gpu} has no fast FP16 arithmetic: matmuls and convolutions run at the FP32 rate; "
                           "a predicted gain comes only from halved activation traffic and the larger micro-batch "
                           "it allows", gpu=gpu.name),)
    if prec is Precision.AMP_BF16:
        summary = Note.of("mixed precision: torch.autocast(bfloat16)")
        effect = Note.of("matmuls and convolutions run in bfloat16 while weights stay float32; no loss scaling "
                         "needed; accuracy normally matches fp32")
    else:
        summary = Note.of("mixed precision: torch.autocast(float16) + GradScaler")
        effect = Note.of("matmuls and convolutions run in float16 while weights stay float32; GradScaler guards "
                         "gradients against underflow; accuracy normally matches fp32")
    return Technique(str(prec), frozenset({"precision"}), 10, (("precision", prec),), summary, effect, Risk.LOW,
                     fast, frozenset({_ACT}), caveats)


def _half(gpu: GPU) -> Technique:
    prec, fast = half_precision(gpu)
    caveats: tuple[Note, ...] = ()
    if not fast:
        caveats = (Note.of("{gpu} has no fast FP16 arithmetic: matmuls run at the FP32 rate; a predicted gain "
                           "comes only from halved memory traffic", gpu=gpu.name),)
    if prec is Precision.BF16:
        summary = Note.of("16-bit weights: model.to(torch.bfloat16)")
        effect = Note.of("weights and activations in bfloat16: half the memory of fp32; outputs differ slightly "
                         "(8-bit mantissa)")
    else:
        summary = Note.of("16-bit weights: model.half()")
        effect = Note.of("weights and activations in float16: half the memory of fp32; outputs differ slightly, "
                         "and rare models overflow in float16")
    return Technique(str(prec), frozenset({"precision"}), 10, (("precision", prec),), summary, effect, Risk.LOW,
                     fast, frozenset({_PARAM, _ACT}), caveats)


def _checkpointing(spec: ModelSpec) -> Technique:
    how = "model.gradient_checkpointing_enable()" if spec.hf else msg("torch.utils.checkpoint per block")
    return Technique("checkpointing", frozenset({"checkpointing"}), 20, (("checkpointing", True),),
                     Note.of("activation checkpointing ({how})", how=how),
                     Note.of("keeps only each block's input and recomputes the block in backward: about one extra "
                             "forward pass of time; results are identical"),
                     Risk.NONE, False, frozenset({_ACT}))


def _free_grads(w: Workload) -> Technique:
    return Technique("zero-grad:set-to-none", frozenset({"grads"}), 5,
                     (("extra", w.with_zero_grad_set_to_none().extra),),
                     Note.of("free gradients between steps: optimizer.zero_grad(set_to_none=True)"),
                     Note.of("PyTorch's default since 2.0: gradients are freed after each optimizer step instead of "
                             "zeroed in place, so they take no memory in the next forward pass; results are "
                             "identical"),
                     Risk.NONE, False, frozenset({_GRAD}))


def _optimizers(w: Workload, gpu: GPU, spec: ModelSpec, skipped: list[Skipped]) -> list[Technique]:
    if w.optimizer not in (OptimizerKind.ADAM, OptimizerKind.ADAMW, OptimizerKind.SGD_MOMENTUM):
        skipped.append(Skipped("optimizer", Note.of("the optimizer ({opt}) already keeps little or no state",
                                                    opt=str(w.optimizer))))
        return []
    out: list[Technique] = []
    shr = frozenset({_OPT})
    if w.optimizer is OptimizerKind.SGD_MOMENTUM:
        return [Technique("optimizer:sgd", frozenset({"optimizer"}), 30, (("optimizer", OptimizerKind.SGD),),
                          Note.of("optimizer: plain SGD (no momentum)"),
                          Note.of("no optimizer state at all; without momentum training usually converges slower "
                                  "and needs a retuned learning rate"), Risk.HIGH, False, shr)]
    bnb = bitsandbytes_support(gpu, "optim_8bit")
    if bnb.supported is False:
        skipped.append(Skipped("optimizer:adam8bit", Note.of("8-bit Adam: {why}", why=bnb.note)))
    else:
        caveats: tuple[Note, ...] = ()
        if bnb.supported is None:
            caveats = (Note.of("bitsandbytes support for this GPU is unknown: {why}", why=bnb.note),)
        out.append(Technique("optimizer:adam8bit", frozenset({"optimizer"}), 30,
                             (("optimizer", OptimizerKind.ADAM8BIT),),
                             Note.of("optimizer: 8-bit Adam (bitsandbytes.optim.{cls})",
                                     cls="AdamW8bit" if w.optimizer is OptimizerKind.ADAMW else "Adam8bit"),
                             Note.of("Adam's two moment estimates stored in 8 bits (block-wise quantized): a quarter "
                                     "of their memory; designed to track 32-bit Adam closely"),
                             Risk.LOW, False, shr, caveats))
    out.append(Technique("optimizer:adafactor", frozenset({"optimizer"}), 30,
                         (("optimizer", OptimizerKind.ADAFACTOR),),
                         Note.of("optimizer: Adafactor (transformers.optimization.Adafactor)"),
                         Note.of("factored second moment and no momentum: almost no optimizer memory; may need a "
                                 "different learning rate and can converge differently from Adam"),
                         Risk.MEDIUM, False, shr))
    cnn = spec.family == "cnn"
    out.append(Technique("optimizer:sgd-momentum", frozenset({"optimizer"}), 30,
                         (("optimizer", OptimizerKind.SGD_MOMENTUM),),
                         Note.of("optimizer: SGD with momentum 0.9"),
                         Note.of("one state tensor instead of Adam's two; the classic recipe for CNNs, with its own "
                                 "learning-rate schedule") if cnn else
                         Note.of("one state tensor instead of Adam's two; transformers usually train worse with SGD "
                                 "than with Adam"),
                         Risk.MEDIUM if cnn else Risk.HIGH, False, shr))
    # the most promising first for this model family (the search may stop before the others)
    pref = {"cnn": ["optimizer:sgd-momentum", "optimizer:adam8bit", "optimizer:adafactor"]}.get(
        spec.family, ["optimizer:adam8bit", "optimizer:adafactor", "optimizer:sgd-momentum"])
    return sorted(out, key=lambda t: pref.index(t.key))


def qlora_technique(caveats: tuple[Note, ...] = ()) -> Technique:
    """QLoRA: frozen NF4 base weights (bitsandbytes) + LoRA adapters (whether the GPU runs it: the caller's check)."""
    return Technique(f"qlora:nf4-r{QLORA_RANK}", frozenset({"trainable", "precision"}), 40,
                     (("precision", Precision.NF4), ("lora_rank", QLORA_RANK)),
                     Note.of("QLoRA: base weights in 4-bit NF4 (bitsandbytes) + LoRA adapters of rank {r}",
                             r=QLORA_RANK),
                     Note.of("frozen base weights stored in 4 bits and dequantized for each matmul, adapters train "
                             "in 16-bit: a small quality loss from 4-bit weights; slower per token than 16-bit LoRA"),
                     Risk.MEDIUM, False, frozenset({_PARAM, _GRAD, _OPT, _ACT}), caveats)


def lora_technique() -> Technique:
    return Technique(f"lora:r{LORA_RANK}", frozenset({"trainable"}), 40, (("lora_rank", LORA_RANK),),
                     Note.of("LoRA adapters of rank {r} on every Linear layer except the head (peft)", r=LORA_RANK),
                     Note.of("base weights frozen, only small adapters train: gradients and optimizer state shrink "
                             "to the adapters; usually close to full fine-tuning on a new task, not a way to train "
                             "from scratch"), Risk.MEDIUM, False, frozenset({_GRAD, _OPT, _ACT}))


_QUANT_TIMING = Note.of("the time model does not include bitsandbytes' dequantization work: real runs are slower "
                        "than this prediction")


def quant_technique(prec: Precision, caveats: tuple[Note, ...] = (_QUANT_TIMING,)) -> Technique:
    """Weight-only int8 (LLM.int8()) or 4-bit NF4 weights for inference (bitsandbytes)."""
    if prec is Precision.INT8:
        summary = Note.of("8-bit weights: bitsandbytes LLM.int8() (load_in_8bit)")
        effect = Note.of("Linear weights stored in 8 bits and computed in float16: about half the weight memory of "
                         "fp16; small accuracy loss")
        risk = Risk.LOW
    else:
        summary = Note.of("4-bit weights: bitsandbytes NF4 (load_in_4bit)")
        effect = Note.of("Linear weights stored in 4-bit NormalFloat and computed in float16: about a quarter of the "
                         "fp16 weight memory; measurable accuracy loss on some tasks")
        risk = Risk.MEDIUM
    return Technique(f"quant:{prec}", frozenset({"precision"}), 10, (("precision", prec),), summary, effect, risk,
                     False, frozenset({_PARAM}), caveats)


def _trainable(w: Workload, gpu: GPU, spec: ModelSpec, layout: ModelLayout | str | None,
               skipped: list[Skipped]) -> list[Technique]:
    if w.lora_rank or w.freeze:
        skipped.append(Skipped("lora/freeze", Note.of("the workload already freezes parameters or uses LoRA")))
        return []
    if layout is None or isinstance(layout, str):
        why = layout or msg("no model layout")
        skipped.append(Skipped("lora/freeze", Note.of("cannot inspect the model: {why}", why=why)))
        return []
    out: list[Technique] = []
    trainable_shr = frozenset({_GRAD, _OPT, _ACT})
    if layout.linear_params == 0:
        skipped.append(Skipped("lora", Note.of("LoRA: the model has no Linear layer besides the output head")))
    else:
        out.append(lora_technique())
        four = bitsandbytes_support(gpu, "four_bit")
        if w.precision.is_weight_only_quant:
            pass
        elif four.supported is False:
            skipped.append(Skipped("qlora", Note.of("QLoRA (4-bit base weights): {why}", why=four.note)))
        elif layout.linear_share < MIN_LINEAR_SHARE:
            skipped.append(Skipped("qlora", Note.of("QLoRA: Linear layers hold only {share:.0%} of the weights",
                                                    share=layout.linear_share)))
        else:
            caveats = () if four.supported else (Note.of("bitsandbytes support for this GPU is unknown: {why}",
                                                         why=four.note),)
            out.append(qlora_technique(caveats))
    half = freeze_lower_half(layout)
    if isinstance(half, str):
        skipped.append(Skipped("freeze:lower-half", Note.of("freezing the lower half: {why}", why=half)))
    else:
        out.append(Technique("freeze:lower-half", frozenset({"trainable"}), 40, (("freeze", half.globs),),
                             Note.of("freeze {what} ({share:.0%} of the weights)", what=half.description,
                                     share=half.frozen_params / max(1, half.total_params)),
                             Note.of("the frozen layers keep their pretrained weights: no gradients or optimizer "
                                     "state for them, and backward stops above them; fine when the new task is close "
                                     "to what the model was trained on"), Risk.MEDIUM, False, trainable_shr))
    head = freeze_all_but_head(layout)
    if isinstance(head, str):
        skipped.append(Skipped("freeze:all-but-head", Note.of("training only the head: {why}", why=head)))
    else:
        out.append(Technique("freeze:all-but-head", frozenset({"trainable"}), 40, (("freeze", head.globs),),
                             Note.of("train only the head: freeze {what} ({share:.0%} of the weights)",
                                     what=head.description, share=head.frozen_params / max(1, head.total_params)),
                             Note.of("linear probing / feature extraction: much less memory and time, usually less "
                                     "accurate than fine-tuning the whole network"), Risk.HIGH, False,
                             trainable_shr))
    return out


def _quantized(w: Workload, gpu: GPU, layout: ModelLayout | str | None, skipped: list[Skipped]) -> list[Technique]:
    if w.precision.is_weight_only_quant:
        skipped.append(Skipped("quantization", Note.of("the workload is already quantized ({p})", p=str(w.precision))))
        return []
    if layout is None or isinstance(layout, str):
        skipped.append(Skipped("quantization", Note.of("cannot inspect the model: {why}",
                                                       why=layout or msg("no model layout"))))
        return []
    if layout.linear_share < MIN_LINEAR_SHARE:
        skipped.append(Skipped("quantization", Note.of(
            "weight-only quantization acts on Linear layers, which hold only {share:.0%} of this model's weights",
            share=layout.linear_share)))
        return []
    out: list[Technique] = []
    for prec, feature in ((Precision.INT8, "int8_inference"), (Precision.NF4, "four_bit")):
        bnb = bitsandbytes_support(gpu, feature)
        tech = quant_technique(prec)
        if bnb.supported is False:
            skipped.append(Skipped(tech.key, Note.of("{what}: {why}", what=tech.summary, why=bnb.note)))
            continue
        if bnb.supported is None:
            tech = quant_technique(prec, (_QUANT_TIMING, Note.of("bitsandbytes support for this GPU is unknown: {why}",
                                                                  why=bnb.note)))
        out.append(tech)
    return out


def shrink_input(w: Workload, spec: ModelSpec) -> Technique | str:
    """A smaller sequence (token models) or resolution (images): the last resort, it changes the task."""
    inputs = w.inputs or spec.inputs
    tokens = [i for i in inputs if i.dtype in ("int64", "int32")]
    images = [i for i in inputs if i.dtype.startswith("float") and len(i.shape) == 3]
    if tokens:
        seq = w.seq_len or tokens[0].shape[0]
        new = seq // 2
        if new < 8:
            return msg("the sequence ({seq}) is already short", seq=seq)
        if w.inputs:
            fields: tuple[tuple[str, Any], ...] = (("inputs", tuple(
                InputSpec((new, *i.shape[1:]), i.dtype, i.name) if i in tokens else i for i in w.inputs)),)
        else:
            fields = (("seq_len", new),)
        return Technique("shrink:seq-len", frozenset({"input"}), 90, fields,
                         Note.of("halve the sequence length: {old} → {new} tokens", old=seq, new=new),
                         Note.of("changes the task: the model sees half the context (truncate or split your "
                                 "samples); quality on long inputs drops"), Risk.TASK, False, frozenset({_ACT}))
    if images:
        c, h, wd = images[0].shape
        nh, nw = max(32, int(h * 0.75) // 32 * 32), max(32, int(wd * 0.75) // 32 * 32)
        if h < 64 or (nh, nw) == (h, wd):
            return msg("the images ({h}×{w}) are already small", h=h, w=wd)
        new_inputs = tuple(InputSpec((c, nh, nw), i.dtype, i.name) if i is images[0] else i for i in inputs)
        return Technique("shrink:resolution", frozenset({"input"}), 90, (("inputs", new_inputs),),
                         Note.of("lower the resolution: {h}×{w} → {nh}×{nw}", h=h, w=wd, nh=nh, nw=nw),
                         Note.of("changes the task: fewer pixels per image; accuracy usually drops, and pretrained "
                                 "weights were trained at the original size"), Risk.TASK, False, frozenset({_ACT}))
    return msg("no sequence or image input to shrink")


def _search_order(singles: list[Technique], spec: ModelSpec) -> list[Technique]:
    """Most promising first (the search budget may stop before the end): techniques expected to be faster;
    the optimizer this model family usually tolerates best; checkpointing; LoRA (QLoRA first for LLMs);
    freezing half; memory-only 16-bit math (GPUs without fast FP16); the other optimizers; head-only training."""
    opts = [t for t in singles if "optimizer" in t.groups]

    def rank(t: Technique) -> int:
        if t.fast or t.key == "zero-grad:set-to-none":  # free memory at no cost: first
            return 0
        if t.key.startswith("quant:"):
            return 1
        if opts and t is opts[0]:
            return 2
        if t.key == "checkpointing":
            return 3
        if t.key.startswith("qlora"):
            return 4 if spec.family == "llm" else 6
        if t.key.startswith("lora"):
            return 5
        if t.key == "freeze:lower-half":
            return 7
        if "precision" in t.groups:
            return 8
        if "optimizer" in t.groups:
            return 9
        return 10

    return sorted(singles, key=rank)  # stable: keeps the optimizers' family preference


def applicable_techniques(w: Workload, gpu: GPU, spec: ModelSpec, *, finetune: bool,
                          layout: Callable[[], ModelLayout | str]) -> Techniques:
    """Techniques for ``w`` on ``gpu`` in search order (most promising first), and the skipped ones with reasons.

    ``layout`` builds the model layout lazily (only freezing/LoRA/quantization need it).
    """
    skipped: list[Skipped] = []
    singles: list[Technique] = []
    train = w.mode is Mode.TRAIN
    base_precision = w.precision in (Precision.FP32, Precision.TF32)
    if train:
        if not w.zero_grad_set_to_none:
            singles.append(_free_grads(w))
        if base_precision:
            singles.append(_amp(gpu))
        else:
            skipped.append(Skipped("mixed precision", Note.of("the workload already uses {p}", p=str(w.precision))))
        if w.checkpointing:
            skipped.append(Skipped("checkpointing", Note.of("the workload already uses activation checkpointing")))
        else:
            singles.append(_checkpointing(spec))
        singles += _optimizers(w, gpu, spec, skipped)
        if finetune:
            singles += _trainable(w, gpu, spec, layout(), skipped)
        else:
            skipped.append(Skipped("lora/freeze", Note.of("freezing and LoRA are for fine-tuning a pretrained model "
                                                          "(pass --finetune to include them)")))
    else:
        if base_precision:
            singles.append(_half(gpu))
            singles += _quantized(w, gpu, layout(), skipped)
        else:
            skipped.append(Skipped("precision", Note.of("the workload already uses {p}", p=str(w.precision))))
    order = _search_order(singles, spec)
    shrunk = shrink_input(w, spec)
    if isinstance(shrunk, str):
        skipped.append(Skipped("smaller input", Note.of("{why}", why=shrunk)))
        last = None
    else:
        last = shrunk
    return Techniques(order, skipped, last)


def lightest_combos(w: Workload, spec: ModelSpec, techs: Techniques, *, finetune: bool,
                    layout: Callable[[], ModelLayout | str]) -> list[tuple[Technique, ...]]:
    """Configurations expected to need the least memory, whatever the GPU runs (bitsandbytes included), for
    the nothing-fits answer: which memory, and which GPUs, would run this job. Traced at batch 1 only."""
    singles = techs.singles
    if w.mode is Mode.TRAIN:
        ckpt = next((t for t in singles if t.key == "checkpointing"), None)
        lay = layout() if finetune and not (w.lora_rank or w.freeze) else None
        out: list[tuple[Technique, ...]] = []
        if isinstance(lay, ModelLayout) and lay.linear_params > 0:
            if lay.linear_share >= MIN_LINEAR_SHARE and not w.precision.is_weight_only_quant:
                out.append(tuple(t for t in (qlora_technique(), ckpt) if t is not None))
            out.append(tuple(t for t in (lora_technique(), ckpt) if t is not None))
            return out
        opts = [t for t in singles if "optimizer" in t.groups]
        light = next((t for t in opts if t.key == "optimizer:adafactor"), opts[0] if opts else None)
        amp = next((t for t in singles if t.groups == frozenset({"precision"})), None)
        stack = tuple(t for t in (amp, ckpt, light) if t is not None)
        return [stack] if stack else []
    lay = layout()
    if isinstance(lay, ModelLayout) and lay.linear_share >= MIN_LINEAR_SHARE and not w.precision.is_weight_only_quant:
        return [(quant_technique(Precision.NF4),)]
    half = next((t for t in singles if t.groups == frozenset({"precision"})), None)
    return [(half,)] if half is not None else []
