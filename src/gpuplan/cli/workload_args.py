"""Options that describe a workload, shared by fit/compare/advise/report."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr
from gpuplan.workload.spec import InputSpec, Mode, OptimizerKind, Precision, Workload

_DTYPES = ("float32", "float16", "bfloat16", "int64", "int32", "bool", "uint8", "float64")


def add_workload_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=tr("resnet50 | timm:NAME | a shipped HF id (bert-base-uncased, meta-llama/Llama-2-7b-hf) "
                   "| lenet5 | cifar_cnn | lstm | mlp | path/to/file.py:factory | package.module:factory"))
    p.add_argument("--batch", default="1", help=tr("batch size (the micro-batch with --grad-accum), or 'auto' for the "
                   "largest that fits (default 1)"))
    p.add_argument("--mode", default="train", choices=[m.value for m in Mode])
    p.add_argument("--precision", default="fp32", choices=[x.value for x in Precision])
    p.add_argument("--optimizer", default="adamw", choices=[o.value for o in OptimizerKind])
    p.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]",
                   help=tr("per-sample input shape without the batch dimension, e.g. 3x224x224 or 128:int64 "
                   "(repeat for several inputs)"))
    p.add_argument("--seq-len", type=int, help=tr("sequence length for token models (default 512 or the model's maximum)"))
    p.add_argument("--prompt-len", type=int, metavar="N", help=tr("--mode generate: prompt tokens per sequence "
                   "(default 512, or --seq-len)"))
    p.add_argument("--new-tokens", type=int, metavar="N", help=tr("--mode generate: tokens to generate per sequence "
                   "(max_new_tokens; default 256)"))
    p.add_argument("--model-arg", action="append", default=[], metavar="K=V",
                   help=tr("argument for the model factory; V parsed as JSON when it parses"))
    p.add_argument("--hf-config", metavar="PATH", help=tr("a Hugging Face config.json to build the model from"))
    p.add_argument("--loss", choices=["cross-entropy", "mse", "mean", "model"], help=tr("loss (default: chosen from "
                   "the model: cross-entropy on class logits, the model's own loss for HF models, else the mean)"))
    p.add_argument("--grad-accum", type=int, default=1, metavar="N", help=tr("gradient accumulation steps"))
    p.add_argument("--checkpointing", action="store_true", help=tr("activation checkpointing per block"))
    p.add_argument("--freeze", action="append", default=[], metavar="GLOB", help=tr("freeze parameters of matching "
                   "modules: a module-name prefix such as layer1 or bert.embeddings, or a glob like *norm* "
                   "(repeatable)"))
    p.add_argument("--lora-rank", type=int, metavar="R", help=tr("LoRA adapters of rank R (base weights frozen)"))
    p.add_argument("--lora-targets", action="append", default=[], metavar="GLOB", help=tr("modules that get LoRA "
                   "(default: every Linear except output heads)"))
    p.add_argument("--keep-zeroed-grads", action="store_true", help=tr("gradients are zeroed in place between "
                   "steps (zero_grad(set_to_none=False), PyTorch 1.x's default) instead of freed, so they stay "
                   "allocated through the forward pass"))
    p.add_argument("--context-mib", type=float, metavar="MIB", help=tr("CUDA context size to assume instead of the "
                   "modelled one"))


def parse_input(text: str) -> InputSpec:
    shape_s, _, dtype = text.partition(":")
    dtype = dtype or "float32"
    if dtype not in _DTYPES:
        raise UsageError(msg("--input {text}: unknown dtype {dtype}; allowed: {allowed}.", text=repr(text),
                             dtype=repr(dtype), allowed=", ".join(_DTYPES)))
    if not re.fullmatch(r"\d+(x\d+)*", shape_s.strip()):
        raise UsageError(msg("--input {text}: expected a shape like 3x224x224 or 128:int64 (no batch dimension).",
                             text=repr(text)))
    shape = tuple(int(s) for s in shape_s.split("x"))
    if any(s <= 0 for s in shape):
        raise UsageError(msg("--input {text}: every dimension must be positive.", text=repr(text)))
    return InputSpec(shape, dtype)


def parse_model_args(items: list[str]) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(msg("--model-arg {item}: expected K=V.", item=repr(item)))
        try:
            val: Any = json.loads(v)
        except json.JSONDecodeError:
            val = v
        out.append((k, val))
    return tuple(out)


def parse_batch(text: str) -> tuple[int, bool]:
    """(batch, auto)."""
    if str(text).strip().lower() == "auto":
        return 1, True
    try:
        b = int(text)
    except ValueError:
        raise UsageError(msg("--batch {text}: expected a positive integer or 'auto'.", text=repr(text))) from None
    if b <= 0:
        raise UsageError(msg("--batch {b}: must be a positive integer (or 'auto').", b=b))
    return b, False


def workload_from_args(args: argparse.Namespace) -> tuple[Workload, bool]:
    batch, auto = parse_batch(args.batch)
    if args.grad_accum <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--grad-accum", value=args.grad_accum))
    if args.seq_len is not None and args.seq_len <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--seq-len", value=args.seq_len))
    if args.lora_rank is not None and args.lora_rank <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--lora-rank", value=args.lora_rank))
    for flag, value in (("--prompt-len", args.prompt_len), ("--new-tokens", args.new_tokens)):
        if value is not None and args.mode != Mode.GENERATE.value:
            raise UsageError(msg("{flag} applies to --mode generate only (this is --mode {mode}).", flag=flag,
                                 mode=args.mode))
        if value is not None and value <= 0:
            raise UsageError(msg("{flag} {value}: must be a positive integer.", flag=flag, value=value))
    w = Workload(
        model=args.model, batch=batch, mode=Mode(args.mode), precision=Precision(args.precision),
        optimizer=OptimizerKind(args.optimizer), inputs=tuple(parse_input(s) for s in args.input),
        seq_len=args.seq_len, model_args=parse_model_args(args.model_arg), hf_config=args.hf_config,
        loss=args.loss, grad_accum=args.grad_accum, checkpointing=args.checkpointing, freeze=tuple(args.freeze),
        lora_rank=args.lora_rank, lora_targets=tuple(args.lora_targets), prompt_len=args.prompt_len,
        new_tokens=args.new_tokens,
        extra=(("set_to_none", False),) if getattr(args, "keep_zeroed_grads", False) else (),
    )
    if getattr(args, "keep_zeroed_grads", False) and w.mode is not Mode.TRAIN:
        raise UsageError(msg("{flag} applies to --mode train only (this is --mode {mode}).", flag="--keep-zeroed-grads",
                             mode=args.mode))
    return w, auto
