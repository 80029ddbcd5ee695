"""Result records of ``gpuplan advise``: plans, what each changes, why a technique was skipped.

Everything here is plain data (JSON through :func:`gpuplan.render.jsonout.to_jsonable`). Sentences meant
for the user are :class:`Note` values: an English message id plus its arguments, so the renderer can
translate them with ``gpuplan.i18n.tr`` and JSON gets the English text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gpuplan.memory.predict import MemoryResult


@dataclass(frozen=True)
class Note:
    """A sentence for the user: English message id (``str.format`` template) and its arguments."""

    msgid: str
    args: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, msgid: str, /, **kwargs: Any) -> Note:
        return cls(msgid, tuple(sorted(kwargs.items())))

    def __str__(self) -> str:
        return self.msgid.format(**dict(self.args)) if self.args else self.msgid

    def to_json(self) -> str:
        return str(self)


class Risk(StrEnum):
    """What a change costs the user, from nothing to a different task."""

    NONE = "none"  # same numerics (up to floating-point summation order)
    LOW = "low"  # small numeric change; results normally match
    MEDIUM = "medium"  # can change accuracy; usually fine with tuning
    HIGH = "high"  # likely changes accuracy or needs new hyperparameters
    TASK = "task"  # changes what is trained or served (inputs)

    @property
    def level(self) -> int:
        return list(Risk).index(self)


@dataclass(frozen=True)
class Change:
    """One thing a plan changes compared with the workload as given."""

    key: str  # stable id: "amp-bf16", "checkpointing", "optimizer:adafactor", "grad-accum", ...
    summary: Note  # what to do
    effect: Note  # what it changes for the user (numerics, accuracy, speed), in plain words
    risk: Risk

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "summary": str(self.summary), "effect": str(self.effect), "risk": self.risk.value}


@dataclass
class Plan:
    """A configuration that was re-predicted on the GPU (memory and speed engines on its own trace)."""

    rank: int  # 1 = best (highest predicted throughput among plans that fit)
    changes: list[Change]
    fits: bool | None
    micro_batch: int
    grad_accum: int
    effective_batch: int
    max_micro_batch: int  # largest micro-batch that fits with these changes
    memory: MemoryResult  # at ``micro_batch``
    time: Any  # TimeResult of the speed engine, per optimizer step (all micro-steps)
    risk: Risk  # the largest risk of its changes
    caveats: list[Note] = field(default_factory=list)
    verified: bool = False  # numbers from a real trace at this micro-batch (else: batch-affine interpolation)
    workload: Any = None  # the Workload to run (gpuplan.workload.spec.Workload)
    engine_files: dict[str, str] = field(default_factory=dict)  # CPU offload: DeepSpeed config and launch files


@dataclass
class Rejected:
    """A combination that was traced but does not fit (or could not be traced)."""

    changes: list[Change]
    reason: Note
    device_bytes_at_batch1: int | None = None


@dataclass
class Skipped:
    """A technique not evaluated for this model/GPU, and why."""

    key: str
    reason: Note


@dataclass
class GPUOption:
    """A catalog GPU on which the lightest plan fits (nothing-fits case)."""

    name: str
    memory_bytes: int | None
    device_total_bytes: int | None
    price: float | None
    currency: str | None
    price_kind: str | None  # "used" | "new" | "launch" ...
    price_date: str | None
    price_source: str | None


@dataclass
class NothingFits:
    """When no plan fits: how much memory the lightest plan needs and which GPUs would run it."""

    lightest_changes: list[Change]
    device_bytes_at_batch1: int | None  # on the requested GPU's context/workspaces
    smallest_memory_bytes: int | None  # smallest catalog memory size on which it fits
    smallest_memory_gpu: str | None
    cheapest: list[GPUOption]
    original_device_bytes_at_batch1: int | None  # the workload as given
    notes: list[Note] = field(default_factory=list)


@dataclass
class SearchStats:
    candidates_evaluated: int
    candidates_pruned: int
    traces: int
    trace_seconds: float
    seconds: float


@dataclass
class Advice:
    """What ``advise`` returns: plans that fit, best first, and everything that was tried."""

    gpu: Any  # GPUSummary
    model: str
    mode: str
    target_batch: int | None
    finetune: bool
    plans: list[Plan]
    rejected: list[Rejected]
    skipped: list[Skipped]
    nothing_fits: NothingFits | None
    pipeline: Any = None  # PipelineCheck for the best plan (training), when asked
    snippet: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    search: SearchStats | None = None
