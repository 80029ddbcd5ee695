"""What the user wants to run: model, inputs, step kind, precision, optimizer and techniques.

A ``Workload`` is pure data (hashable, JSON-serialisable). The tracer turns it into a ``Trace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    TRAIN = "train"  # forward, loss, backward, optimizer step (steady state)
    INFER = "infer"  # forward under torch.no_grad()
    GENERATE = "generate"  # decoder LM: prefill the prompt, then decode new tokens with a KV cache


class Precision(StrEnum):
    FP32 = "fp32"  # PyTorch defaults (TF32 for convolutions on Ampere+, not for matmul)
    TF32 = "tf32"  # fp32 with TF32 matmul and convolutions allowed
    AMP_FP16 = "amp-fp16"  # torch.autocast(float16) + GradScaler
    AMP_BF16 = "amp-bf16"  # torch.autocast(bfloat16)
    FP16 = "fp16"  # model.half()
    BF16 = "bf16"  # model.to(bfloat16)
    INT8 = "int8"  # weight-only int8 (inference, or frozen base for LoRA)
    INT4 = "int4"  # weight-only int4
    NF4 = "nf4"  # 4-bit NormalFloat (QLoRA)

    @property
    def is_weight_only_quant(self) -> bool:
        return self in (Precision.INT8, Precision.INT4, Precision.NF4)

    @property
    def is_amp(self) -> bool:
        return self in (Precision.AMP_FP16, Precision.AMP_BF16)


class OptimizerKind(StrEnum):
    SGD = "sgd"
    SGD_MOMENTUM = "sgd-momentum"
    ADAM = "adam"
    ADAMW = "adamw"
    ADAFACTOR = "adafactor"
    ADAM8BIT = "adam8bit"


@dataclass(frozen=True)
class InputSpec:
    """One model input, per sample (no batch dimension)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    name: str | None = None  # keyword name (e.g. "input_ids"); positional when None

    def __str__(self) -> str:
        s = "x".join(str(d) for d in self.shape)
        return s if self.dtype == "float32" else f"{s}:{self.dtype}"


@dataclass(frozen=True)
class Workload:
    model: str  # zoo name, "timm:NAME", HF hub id of a shipped config, "file.py:factory", "pkg.mod:factory"
    batch: int = 1  # micro-batch when grad_accum > 1
    mode: Mode = Mode.TRAIN
    precision: Precision = Precision.FP32
    optimizer: OptimizerKind = OptimizerKind.ADAMW
    inputs: tuple[InputSpec, ...] = ()  # empty: the model's defaults
    seq_len: int | None = None  # token models
    model_args: tuple[tuple[str, Any], ...] = ()
    hf_config: str | None = None  # path to a config.json used instead of a shipped one
    loss: str | None = None  # "cross-entropy" | "mse" | "mean" | "model"; None: chosen from the model
    grad_accum: int = 1
    checkpointing: bool = False
    freeze: tuple[str, ...] = ()  # module-name globs whose parameters are frozen
    lora_rank: int | None = None
    lora_targets: tuple[str, ...] = ()  # module-name globs; default: attention/MLP linears
    prompt_len: int | None = None  # generate
    new_tokens: int | None = None  # generate
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def with_batch(self, batch: int) -> Workload:
        return replace(self, batch=batch)

    @property
    def effective_batch(self) -> int:
        return self.batch * self.grad_accum

    @property
    def zero_grad_set_to_none(self) -> bool:
        """How the training loop clears gradients: ``zero_grad(set_to_none=True)`` (freed, PyTorch 2.x's
        default) unless ``extra`` has ``("set_to_none", False)`` (zeroed in place, ``--keep-zeroed-grads``)."""
        return dict(self.extra).get("set_to_none", True) is not False

    def with_zero_grad_set_to_none(self) -> Workload:
        """This workload with gradients freed between steps (the ``set_to_none`` setting removed)."""
        return replace(self, extra=tuple((k, v) for k, v in self.extra if k != "set_to_none"))
