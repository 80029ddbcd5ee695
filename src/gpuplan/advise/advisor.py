"""`gpuplan advise`: search the configurations that apply on one GPU and rank those that fit by speed.

    >>> from gpuplan.advise.advisor import advise
    >>> from gpuplan.catalog import get_gpu
    >>> from gpuplan.workload.spec import Workload
    >>> a = advise(Workload("resnet50"), get_gpu("GTX 760"), target_batch=64)   # doctest: +SKIP
    >>> [(p.rank, [c.key for c in p.changes], p.time.samples_per_second) for p in a.plans]  # doctest: +SKIP

Every number is a re-prediction: each candidate workload is traced (two traces give every batch, the
memory being affine in the batch) and run through the memory engine (largest micro-batch that fits) and
the speed engine. The search is bounded:

1. the workload as given;
2. each applicable technique alone (``candidates.applicable_techniques``: mixed precision only where the
   GPU runs it fast — elsewhere as a memory saver, tried late —, activation checkpointing, lighter
   optimizers, LoRA/QLoRA/freezing for fine-tuning, 16-bit and quantized weights for inference), most
   promising first;
3. a few combinations: the fast technique with the best memory savers, and cumulative stacks of the
   savers that helped most (one per slot: precision, optimizer, trainable parameters, checkpointing);
4. when nothing fits: the lightest stack with a smaller input (changes the task), and then the memory the
   lightest plan needs, the smallest catalog memory size and the cheapest catalog GPUs that fit it.

A combination is pruned without tracing when the persistent state it cannot shrink (parameters,
gradients, optimizer state, as traced for the workload as given) already exceeds the card. ``budget``
caps the number of traced candidates; the best plan is finally checked with a real trace at its batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gpuplan.advise.candidates import Technique, Techniques, applicable_techniques, lightest_combos
from gpuplan.advise.layout import ModelLayout, model_layout
from gpuplan.advise.types import (
    Advice,
    Change,
    GPUOption,
    Note,
    NothingFits,
    Plan,
    Rejected,
    Risk,
    SearchStats,
    Skipped,
)
from gpuplan.api import TraceCache, _summary, kernel_profile_for, precision_warnings
from gpuplan.catalog import GPU, load_catalog
from gpuplan.errors import GpuplanError, UsageError
from gpuplan.i18n import msg, msg_join
from gpuplan.memory.batch import MAX_BATCH, BatchFitSearch, BatchScaler
from gpuplan.memory.context import context_for, usable_capacity
from gpuplan.memory.predict import MemoryResult, ReplayMemo, fits_on, predict_memory
from gpuplan.timing import TimeResult, predict_time
from gpuplan.timing.model import with_grad_accumulation
from gpuplan.trace import KernelProfile, Trace
from gpuplan.trace.pool import TracePool
from gpuplan.trace.records import Category
from gpuplan.workload.spec import Mode, OptimizerKind, Workload
from gpuplan.workload.zoo import ModelSpec, resolve_model

_CATEGORY_NAMES = {"parameters": msg("parameters"), "buffers": msg("buffers"), "gradients": msg("gradients"),
                   "optimizer_state": msg("optimizer state"), "activations": msg("activations"),
                   "temporaries": msg("temporaries"), "inputs": msg("inputs"), "kv_cache": msg("kv cache"),
                   "workspaces": msg("workspaces")}  # memory categories in notes, translatable

DEFAULT_BUDGET = 8  # traced candidates (each costs two or three traces)
DEFAULT_TOP = 5
CHEAPEST_LISTED = 5
_PERSISTENT = (Category.PARAMETER.value, Category.BUFFER.value, Category.GRADIENT.value,
               Category.OPTIMIZER_STATE.value)
_ATTENTION_MEMORY_RANK = {"flash": 0, "mem_efficient": 1, "math": 2}  # math keeps the score matrix


# ----------------------------------------------------------------------------------------------- formulas


def split_batch(target: int, max_micro: int) -> tuple[int, int]:
    """(micro-batch, accumulation steps) for an effective batch of ``target`` with micro-batches of at most
    ``max_micro``: the fewest steps, N0 = ceil(target / max_micro); a step count up to N0 + N0/4 that divides
    ``target`` exactly is preferred (effective batch = target); otherwise micro = ceil(target / N0) and the
    effective batch micro × N0 exceeds the target by less than one micro-batch."""
    if target <= 0 or max_micro <= 0:
        raise ValueError("target and max_micro must be positive")
    if max_micro >= target:
        return target, 1
    n0 = math.ceil(target / max_micro)
    for n in range(n0, n0 + max(1, n0 // 4) + 1):
        if target % n == 0:
            return target // n, n
    return math.ceil(target / n0), n0


# ----------------------------------------------------------------------------------------------- search


class _Traces:
    """Traces for one kernel profile (:class:`~gpuplan.api.TraceCache`), with the time spent waiting for them
    (tracing is the cost).

    With a :class:`~gpuplan.trace.pool.TracePool` every trace runs in a worker process: ``prefetch``
    queues the traces a wave of candidates will need, so the workers trace them side by side while this
    process evaluates what is ready; a call waits for its trace. Without one (or when the pool fails),
    traces run here. Either way the same traces come back, so the advice does not depend on the pool.
    """

    def __init__(self, profile: KernelProfile, pool: TracePool | None = None) -> None:
        self.profile = profile
        self.pool = pool
        self._cache = TraceCache(pool)
        self._fn = self._cache.fn(profile)
        self.seconds = 0.0

    @property
    def count(self) -> int:
        return self._cache.count

    def prefetch(self, workloads: list[Workload]) -> None:
        """Queue traces that will be asked for soon (a no-op without a pool)."""
        self._cache.prefetch(self.profile, workloads)

    def __call__(self, w: Workload) -> Trace:
        t0 = time.perf_counter()
        self.prefetch([w])  # in a worker too when nobody asked for it ahead
        trace = self._fn(w)
        self.seconds += time.perf_counter() - t0
        return trace


@dataclass
class _Outcome:
    techniques: tuple[Technique, ...]
    fits: bool = False
    workload: Workload | None = None
    max_micro: int = 0
    micro: int = 0
    accum: int = 1
    memory: MemoryResult | None = None
    time: TimeResult | None = None
    bytes_at_1: int | None = None
    trace_at_1: Trace | None = None
    base_trace: Trace | None = None  # any trace of this candidate (persistent-state bytes)
    error: str | None = None
    exception: GpuplanError | None = None  # the error itself (class, hint), for the workload as given
    verified: bool = False
    caveats: list[Note] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # engine files (CPU offload: ds_config.json, ...)

    @property
    def key(self) -> frozenset[str]:
        return frozenset(t.key for t in self.techniques)


OFFLOAD = Technique(
    "cpu-offload", frozenset({"offload", "optimizer"}), 50, (),
    Note.of("CPU offload: DeepSpeed ZeRO-2 with the optimizer on the CPU (ZeRO-Offload)"),
    Note.of("optimizer state and fp32 master weights live in CPU RAM and the optimizer step runs on the CPU: "
            "the same optimizer, so the same numerics; each step waits for the CPU optimizer and the PCIe copies"),
    Risk.LOW, False, frozenset({Category.OPTIMIZER_STATE.value}))


MIN_GAIN_SHARE = 0.05  # a technique acting only on state smaller than this share of the card is not combined


def _little_to_gain(combo: tuple[Technique, ...], by_key: dict[frozenset[str], _Outcome]) -> bool:
    """True when a technique of ``combo`` shrinks only persistent state (e.g. a lighter optimizer) and the
    rest of the combination, as traced, keeps almost none of that state (e.g. LoRA's tiny optimizer state)."""
    for t in combo:
        if not t.shrinks or not t.shrinks <= set(_PERSISTENT):
            continue
        rest = by_key.get(frozenset(x.key for x in combo if x is not t))
        if rest is None or rest.base_trace is None or rest.memory is None or not rest.memory.capacity_bytes:
            continue
        held = sum(rest.base_trace.bytes_by_category.get(c, 0) for c in t.shrinks)
        if held < MIN_GAIN_SHARE * rest.memory.capacity_bytes:
            return True
    return False


def _combine(techs: tuple[Technique, ...]) -> tuple[Technique, ...] | None:
    """The techniques sorted in their combination order, or None when two claim the same slot."""
    used: set[str] = set()
    for t in techs:
        if t.groups & used:
            return None
        used |= t.groups
    return tuple(sorted(techs, key=lambda t: (t.order, t.key)))


class _Search:
    def __init__(self, base: Workload, gpu: GPU, *, target: int | None, context_bytes: int | None,
                 pool: TracePool | None = None) -> None:
        self.base = replace(base, grad_accum=1)
        self.gpu = gpu
        self.target = target
        self.context_bytes = context_bytes
        self.pool = pool
        self.traces = _Traces(kernel_profile_for(gpu), pool)
        self.replays = ReplayMemo()
        self.capacity = usable_capacity(gpu)
        self.context = context_for(gpu).context_bytes if context_bytes is None else context_bytes
        # with a target batch above 1, candidates are traced with accumulation first (most need it); the
        # accumulation trace holds the previous micro-step's gradients during the next forward/backward
        self.accumulates = target is not None and base.mode is Mode.TRAIN  # inference: the target only caps
        self.accum_first = self.accumulates and (target or 1) > 1
        self.batch1_affine: bool | None = None  # do batch-1 traces line up with batch-2 ones (learned once)
        self.outcomes: list[_Outcome] = []
        self.pruned: list[Rejected] = []
        self.probes: list[_Outcome] = []
        self.evaluated = 0

    def _largest(self, scaler: BatchScaler, cap: int) -> int:
        """Largest micro-batch that fits (memory engine on batch-interpolated traces)."""
        if self.capacity is None:
            return cap
        return BatchFitSearch(scaler, self.replays).largest(self.gpu, max(0, self.capacity - self.context), cap=cap)

    # memory/time engines on one trace (the memory questions share allocator replays: self.replays)
    def _fits(self, t: Trace) -> bool:
        return bool(fits_on(t, self.gpu, context_bytes=self.context_bytes, replay_fn=self.replays))

    def _memory(self, t: Trace) -> MemoryResult:
        return predict_memory(t, self.gpu, context_bytes=self.context_bytes, with_timeline=False,
                              replay_fn=self.replays)

    def _time(self, t: Trace, w: Workload, steps: int) -> TimeResult:
        # the trace holds one micro-step and the optimizer (whatever its grad_accum): scale to ``steps``
        return with_grad_accumulation(predict_time(t, self.gpu, w.precision, samples_per_step=t.batch), steps)

    def workload_for(self, techs: tuple[Technique, ...]) -> Workload:
        w = self.base
        for t in techs:
            w = t.apply(w)
        return w

    def _traced_as(self, techs: tuple[Technique, ...]) -> Workload:
        w0 = self.workload_for(techs)
        return replace(w0, grad_accum=2) if self.accum_first else w0

    def prefetch(self, combos: list[tuple[Technique, ...]]) -> None:
        """Queue the two traces each candidate's evaluation starts with (batch 1 and 2, or 2 and 1)."""
        batches = (1, 2) if self.batch1_affine is not False else (2, 1)
        ws = []
        for techs in combos:
            try:
                wa = self._traced_as(techs)
            except GpuplanError:
                continue
            ws += [wa.with_batch(b) for b in batches]
        self.traces.prefetch(ws)

    def floor_bytes(self, techs: tuple[Technique, ...]) -> tuple[int, list[str]] | None:
        """Persistent bytes (as traced for the workload as given) that none of ``techs`` can shrink."""
        base = self.outcomes[0].base_trace if self.outcomes else None
        if base is None:
            return None
        shrunk = set().union(*(t.shrinks for t in techs)) if techs else set()
        cats = [c for c in _PERSISTENT if c not in shrunk and base.bytes_by_category.get(c)]
        return sum(base.bytes_by_category.get(c, 0) for c in cats), cats

    def prune(self, techs: tuple[Technique, ...]) -> Rejected | None:
        if self.capacity is None:
            return None
        fl = self.floor_bytes(techs)
        if fl is None:
            return None
        floor, cats = fl
        if self.context + floor <= self.capacity:
            return None
        if self.context > self.capacity:
            return Rejected([t.change() for t in techs], Note.of(
                "not traced: the CUDA context alone ({ctx}) exceeds the {cap} usable", ctx=_size(self.context),
                cap=_size(self.capacity)))
        return Rejected([t.change() for t in techs], Note.of(
            "not traced: {cats} take {need} (as traced for the workload as given) plus the {ctx} CUDA context, "
            "more than the {cap} usable, and these changes do not shrink them",
            cats=msg_join(", ", [_CATEGORY_NAMES.get(c, c.replace("_", " ")) for c in cats]), need=_size(floor),
            ctx=_size(self.context),
            cap=_size(self.capacity)))

    def evaluate(self, techs: tuple[Technique, ...], *, learn: bool = False) -> _Outcome:
        out = _Outcome(techs)
        self.evaluated += 1
        w0 = self.workload_for(techs)
        wa = replace(w0, grad_accum=2) if self.accum_first else w0
        self.prefetch([techs])
        try:
            if learn:
                self._learn_batch1(wa)
            self._evaluate(out, w0, wa)
        except GpuplanError as e:
            out.error = e.message
            out.exception = e
            out.fits = False
        self.outcomes.append(out)
        return out

    def _learn_batch1(self, wa: Workload) -> None:
        """Do traces at batch 1 line up with those at batch 2 for this model (decided once, on the workload as
        given, so every later candidate takes the same path whatever order they are traced in)?"""
        self.batch1_affine = BatchScaler(self.traces, wa, b1=1, b2=2).affine

    def _evaluate(self, out: _Outcome, w0: Workload, wa: Workload) -> None:
        # Memory is affine in the batch event by event, so two traces give every batch. Traces at 1 and 2
        # serve when batch 1 traces like the others (then a candidate that does not fit costs one trace);
        # some models run different ops at batch 1 (a size-1 dimension skips a copy): then 2 and 4.
        scaler: BatchScaler | None = None
        cap = self.target if self.target is not None else MAX_BATCH
        if self.batch1_affine is not False:
            t1 = self.traces(wa.with_batch(1))
            out.base_trace = out.trace_at_1 = t1
            out.bytes_at_1 = self._memory(t1).device_total_bytes
            if not self._fits(t1):
                return
            if not self._fits(self.traces(wa.with_batch(2))):
                max_micro = 1
            else:
                scaler = BatchScaler(self.traces, wa, b1=1, b2=2)
                if not scaler.affine:
                    scaler = BatchScaler(self.traces, wa)
        else:
            t2 = self.traces(wa.with_batch(2))
            out.base_trace = t2
            if self._fits(t2):
                scaler = BatchScaler(self.traces, wa)
                out.trace_at_1 = scaler.at(1)  # extrapolated: a ranking figure, not shown for fitting plans
                out.bytes_at_1 = self._memory(out.trace_at_1).device_total_bytes
            else:
                t1 = self.traces(wa.with_batch(1))
                out.trace_at_1 = t1
                out.bytes_at_1 = self._memory(t1).device_total_bytes
                if not self._fits(t1):
                    return
                max_micro = 1
        if scaler is not None:
            max_micro = max(2, self._largest(scaler, cap))
        out.max_micro = max_micro
        if not self.accumulates:
            micro, steps = max_micro, 1
        else:
            micro, steps = split_batch(self.target or 1, max_micro)
        if steps == 1 and wa is not w0:
            # fits the target in one micro-step: trace it without accumulation (a real trace); with a trace
            # pool, the check of the fastest unverified plan so far (likely needed at the end) runs beside it
            w = w0.with_batch(micro)
            self.traces.prefetch([w, *self._likely_checks(1)])
            final = self.traces(w)
            out.verified = True
            if not self._fits(final):  # cannot happen for a monotone model; keep the honest answer
                micro, steps = split_batch(self.target or micro, max(1, micro - 1))
                w = replace(wa, batch=micro, grad_accum=steps)
                final = scaler.at(micro) if scaler is not None else self.traces(wa.with_batch(micro))
        else:
            w = replace(wa, batch=micro, grad_accum=steps)
            final = scaler.at(micro) if scaler is not None else self.traces(wa.with_batch(micro))
            out.verified = scaler is None or micro in (scaler.b1, scaler.b2)
        out.fits, out.workload, out.micro, out.accum = True, w, micro, steps
        out.memory = self._memory(final)
        out.time = self._time(final, w, steps)

    def _likely_checks(self, n: int) -> list[Workload]:
        """Workloads of the ``n`` fastest fitting plans so far that ``verify`` would trace (a prefetch hint)."""
        best = sorted((o for o in self.outcomes if o.fits and not o.verified and o.workload is not None),
                      key=_speed_key)
        return [o.workload for o in best[:n] if o.workload is not None]

    def probe(self, techs: tuple[Technique, ...]) -> _Outcome:
        """Memory at batch 1 only (a figure for the nothing-fits answer, not a plan for this GPU)."""
        out = _Outcome(techs)
        w = self.workload_for(techs)
        wa = replace(w, grad_accum=2) if self.accum_first else w
        try:
            t1 = self.traces(wa.with_batch(1))
            out.trace_at_1 = out.base_trace = t1
            out.bytes_at_1 = self._memory(t1).device_total_bytes
        except GpuplanError as e:
            out.error = e.message
        self.probes.append(out)
        return out

    def offload(self, techs: tuple[Technique, ...] = ()) -> _Outcome:
        """ZeRO-Offload on this one GPU (gpuplan.plan): memory and step time of the re-laid-out trace."""
        from gpuplan.plan.cluster import cluster_for
        from gpuplan.plan.strategies import Strategy, choose_batch, evaluate

        out = _Outcome((*techs, OFFLOAD))
        self.evaluated += 1
        w = self.workload_for(techs)
        try:
            cl = cluster_for((1, self.gpu))
            s = Strategy.ZERO2_OFFLOAD
            micro, ga = choose_batch(s, w, cl, self.traces, target_batch=self.target, auto=self.target is None,
                                     context_bytes=self.context_bytes)
            sp = evaluate(s, w, cl, micro_batch=micro, grad_accum=ga, trace_fn=self.traces,
                          context_bytes=self.context_bytes, with_files=True)
        except GpuplanError as e:
            out.error = e.message
            self.outcomes.append(out)
            return out
        out.fits = bool(sp.fits)
        if micro == 1:
            out.bytes_at_1 = sp.per_gpu_memory_bytes
        out.workload = replace(w, batch=micro, grad_accum=ga)
        out.micro, out.accum, out.max_micro, out.verified = micro, ga, micro, True
        out.memory = sp.memory
        out.time = TimeResult(
            gpu=self.gpu.name, precision=sp.traced_precision, batch=micro * ga, forward_seconds=None,
            backward_seconds=None, optimizer_seconds=sp.cpu_optimizer_seconds, step_seconds=sp.step_seconds,
            samples_per_second=sp.samples_per_second, bound=None,
            notes=[msg("CPU optimizer {s} s per step", s=f"{sp.cpu_optimizer_seconds or 0:.3g}"), *list(sp.warnings)],
            na_reason=None if sp.step_seconds is not None else (msg_join("; ", sp.warnings) if sp.warnings else "N/A"))
        out.caveats = [Note.of("needs DeepSpeed with its CPU Adam (DeepSpeedCPUAdam); DeepSpeed's support for this "
                               "GPU is not in gpuplan's sources"),
                       Note.of("{ram} of CPU RAM for the offloaded optimizer state",
                               ram=_size(sp.host_memory_bytes_per_gpu))]
        out.caveats += [Note.of("{a}", a=a) for a in sp.assumptions if a.startswith("offload")]
        out.files = dict(sp.files)
        self.outcomes.append(out)
        return out

    def verify(self, out: _Outcome) -> None:
        """Re-predict ``out`` from a real trace of its exact workload (the others are batch-interpolated)."""
        if out.verified or out.workload is None:
            return
        w = out.workload
        for _ in range(3):
            try:
                t = self.traces(w)
            except GpuplanError as e:
                out.caveats.append(Note.of("the check with a real trace failed: {err}", err=e.message))
                return
            if self._fits(t):
                out.memory = self._memory(t)
                out.time = self._time(t, w, w.grad_accum)
                out.workload, out.micro, out.accum, out.verified = w, w.batch, w.grad_accum, True
                return
            if w.batch <= 1:
                break
            micro, steps = (w.batch - 1, 1) if not self.accumulates else split_batch(self.target or 1, w.batch - 1)
            w = replace(w, batch=micro, grad_accum=steps)
        out.fits = False
        out.caveats.append(Note.of("a real trace at the interpolated batch did not fit"))


# ----------------------------------------------------------------------------------------------- helpers


def _size(n: float | None) -> str:
    """Bytes in IEC units for the notes (GiB from 1 GiB up, else MiB)."""
    if n is None:
        return "N/A"
    return f"{n / 2**30:.2f} GiB" if abs(n) >= 2**30 else f"{n / 2**20:.0f} MiB"


def _batch_change(out: _Outcome, target: int | None, as_given: Workload) -> Change | None:
    if out.accum > 1:
        eff = out.micro * out.accum
        exact = target is None or eff == target
        summary = (Note.of("micro-batch {m} × {n} accumulation steps = effective batch {e}", m=out.micro, n=out.accum,
                           e=eff) if exact else
                   Note.of("micro-batch {m} × {n} accumulation steps = effective batch {e} (target {t} is not a "
                           "multiple of {n}: the effective batch is {extra} larger)", m=out.micro, n=out.accum, e=eff,
                           t=target, extra=eff - (target or eff)))
        return Change("grad-accum", summary,
                      Note.of("same effective batch, so the same training dynamics up to BatchNorm statistics "
                              "(computed per micro-batch); each optimizer step takes {n} forward/backward passes",
                              n=out.accum) if exact else
                      Note.of("the effective batch differs from the target: scale the learning rate accordingly; "
                              "BatchNorm statistics are per micro-batch"),
                      Risk.NONE if exact else Risk.LOW)
    if target is None and out.micro != as_given.batch:
        return Change("batch", Note.of("batch {b} (the largest that fits with these changes)", b=out.micro),
                      Note.of("a different batch size changes the training dynamics (learning rate, steps per epoch)")
                      if as_given.mode is Mode.TRAIN else Note.of("more samples per forward pass; same results"),
                      Risk.LOW if as_given.mode is Mode.TRAIN else Risk.NONE)
    return None


def _plan(out: _Outcome, rank: int, target: int | None, as_given: Workload, gpu: GPU) -> Plan:
    changes = [t.change() for t in out.techniques]
    bc = _batch_change(out, target, as_given)
    if bc is not None:
        changes.append(bc)
    risk = max((c.risk for c in changes), key=lambda r: r.level, default=Risk.NONE)
    caveats = [c for t in out.techniques for c in t.caveats] + out.caveats
    assert out.memory is not None and out.workload is not None
    if out.memory.needed_cache_release:
        caveats.append(Note.of("near the limit: the allocator must release cached blocks to fit; fragmentation can "
                               "still make a real run fail (a smaller micro-batch leaves headroom)"))
    w = out.workload
    return Plan(rank=rank, changes=changes, fits=out.fits, micro_batch=out.micro, grad_accum=out.accum,
                effective_batch=out.micro * out.accum, max_micro_batch=out.max_micro, memory=out.memory,
                time=out.time, risk=risk, caveats=caveats, verified=out.verified, workload=w,
                engine_files=dict(out.files))


def _speed_key(out: _Outcome) -> tuple[float, int, int]:
    sps = out.time.samples_per_second if out.time is not None else None
    risk = max((t.risk.level for t in out.techniques), default=0)
    return (-(sps or 0.0), risk, len(out.techniques))


# ----------------------------------------------------------------------------------------------- catalog


def _runs_on(techs: tuple[Technique, ...], gpu: GPU) -> bool:
    from gpuplan.advise.hardware import bitsandbytes_support

    for t in techs:
        feature = {"optimizer:adam8bit": "optim_8bit", "quant:int8": "int8_inference", "quant:nf4": "four_bit"}.get(
            t.key, "four_bit" if t.key.startswith("qlora") else None)
        if feature and bitsandbytes_support(gpu, feature).supported is False:
            return False
    return True


def _price(gpu: GPU, currency: str) -> tuple[float, str, str, str | None, str] | None:
    """(price, currency, kind, date, source): the used price when known, else the newest new price."""
    from gpuplan.catalog.prices import price_for

    for kind in ("used", "new"):
        q = price_for(gpu.name, kind, currency)
        if q is not None:
            return q.price_per_device, q.currency, kind, q.date, q.source
    return None


def _catalog_options(search: _Search, lightest: _Outcome, currency: str, attention: bool) -> tuple[int | None, str | None,
                                                                                  list[GPUOption], list[Note]]:
    """Smallest catalog memory and cheapest catalog GPUs on which ``lightest`` fits at batch 1."""
    notes: list[Note] = []
    w1 = search.workload_for(lightest.techniques).with_batch(1)
    if search.accum_first:
        w1 = replace(w1, grad_accum=2)
    own = search.traces.profile
    extra: dict[KernelProfile, _Traces] = {}

    def trace_for(g: GPU) -> Trace:
        p = kernel_profile_for(g)
        if p == own or (p.rnn == own.rnn and _ATTENTION_MEMORY_RANK[p.attention] <= _ATTENTION_MEMORY_RANK[own.attention]):
            return lightest.trace_at_1 or search.traces(w1)
        if p not in extra:
            extra[p] = _Traces(p, search.pool)
        return extra[p](w1)

    base = lightest.trace_at_1 or search.traces(w1)
    # the allocator cannot go below the peak of live tensors (workspaces differ by GPU: 64 MiB of slack)
    floor_alloc = predict_memory(base, search.gpu, with_timeline=False).peak_allocated_bytes - 2**26
    pool = [g for g in load_catalog()
            if g.memory_bytes and (usable_capacity(g) or 0) >= floor_alloc and _runs_on(lightest.techniques, g)]
    memo: dict[str, MemoryResult] = {}

    def mem(g: GPU) -> MemoryResult | None:
        if g.name not in memo:
            try:
                memo[g.name] = predict_memory(trace_for(g), g, with_timeline=False)
            except GpuplanError:
                return None
        return memo[g.name]

    smallest: tuple[int, str] | None = None
    for g in sorted(pool, key=lambda g: (g.memory_bytes or 0, g.name)):
        if smallest is not None and (g.memory_bytes or 0) > smallest[0]:
            break
        m = mem(g)
        if m is not None and m.fits:
            smallest = (g.memory_bytes or 0, g.name)
    priced = [(p, g) for g in pool if (p := _price(g, currency)) is not None]
    options: list[GPUOption] = []
    for p, g in sorted(priced, key=lambda pg: (pg[0][0], pg[1].name)):
        if smallest is not None and (g.memory_bytes or 0) < smallest[0]:
            continue
        m = mem(g)
        if m is None or not m.fits:
            continue
        options.append(GPUOption(g.name, g.memory_bytes, m.device_total_bytes, p[0], p[1], p[2], p[3], p[4]))
        if len(options) >= CHEAPEST_LISTED:
            break
    if attention and any(kernel_profile_for(g) != own for g in pool):
        notes.append(Note.of("GPUs whose attention kernels need less memory than {gpu}'s were checked against "
                             "{gpu}'s trace (an upper bound)", gpu=search.gpu.name))
    notes.append(Note.of("prices: used (US eBay average) where known, else the newest new price; see "
                         "`gpuplan gpu NAME` for the sources"))
    return (smallest[0] if smallest else None), (smallest[1] if smallest else None), options, notes


def _split_singles(techs: Techniques, workload: Workload, *, roomy: bool
                   ) -> tuple[list[tuple[Technique, ...]], list[tuple[Technique, Note]], list[Skipped]]:
    """Single techniques in two waves (what goes in the second is decided after the first, so the result does
    not depend on the order, or the parallelism, in which a wave is traced), and those not needed when the
    target fits as given (``roomy``)."""
    wave1: list[tuple[Technique, ...]] = []
    wave2: list[tuple[Technique, Note]] = []
    not_needed: list[Skipped] = []
    optimizer_seen = False
    for t in techs.singles:
        trades_speed_for_memory = t.key == "checkpointing" or (
            "precision" in t.groups and not t.fast and workload.mode is Mode.TRAIN)
        if roomy and trades_speed_for_memory:
            not_needed.append(Skipped(t.key, Note.of("not needed: the target batch fits as given, and this only "
                                                     "trades speed for memory")))
        elif "optimizer" in t.groups and optimizer_seen:
            wave2.append((t, Note.of("not tried: another lighter optimizer was tried first, and plans fit")))
        elif t.risk.level >= Risk.HIGH.level:
            wave2.append((t, Note.of("not tried: it changes training a lot, and plans with smaller changes fit")))
        else:
            wave1.append((t,))
        optimizer_seen = optimizer_seen or "optimizer" in t.groups
    return wave1, wave2, not_needed


# ----------------------------------------------------------------------------------------------- entry point


def advise(workload: Workload, gpu: GPU, *, target_batch: int | None = None, finetune: bool | None = None,
           top: int = DEFAULT_TOP, budget: int = DEFAULT_BUDGET, context_bytes: int | None = None,
           currency: str = "USD", progress: Callable[[str], None] | None = None,
           pool: TracePool | bool | None = True) -> Advice:
    """Plans that make ``workload`` fit and run fast on ``gpu``, best first (re-predicted, never assumed).

    Args:
        workload: what the user wants to run (its ``batch`` is ignored: see ``target_batch``).
        gpu: the one GPU to plan for.
        target_batch: effective batch to keep (training: micro-batch × gradient accumulation); None = the
            largest batch each plan fits.
        finetune: offer freezing/LoRA/QLoRA (fine-tuning a pretrained model). None = yes for transformer
            and Hugging Face models, no otherwise.
        top: how many plans to return.
        budget: at most this many candidates are traced (each costs two or three traces).
        context_bytes: CUDA context size to assume instead of the modelled one.
        currency: currency of the GPU prices in the nothing-fits answer.
        progress: called with a short description before each candidate is traced.
        pool: trace in worker processes: a running :class:`~gpuplan.trace.pool.TracePool`, True to start one
            for this search when this process can (``TracePool.start``), or False/None to trace here. The
            advice is the same either way; only the time differs.

    Returns:
        :class:`~gpuplan.advise.types.Advice`: ``plans`` (fit, best first), ``rejected`` (traced, no fit),
        ``skipped`` (not applicable, with reasons), ``nothing_fits`` (smallest memory / cheapest GPUs) when
        no plan fits.
    """
    if target_batch is not None and target_batch <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--target-batch", value=target_batch))
    if top <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--top", value=top))
    if budget <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--budget", value=budget))
    if workload.mode is Mode.GENERATE:
        raise UsageError(msg("advise supports --mode train and --mode infer (generate is not supported yet)."))
    t_start = time.perf_counter()
    spec = resolve_model(workload)
    is_ft = (spec.hf or spec.family in ("transformer", "llm")) if finetune is None else finetune
    target = target_batch if workload.mode is Mode.TRAIN or target_batch is not None else None
    own_pool = TracePool.start(preload=workload) if pool is True else None
    try:
        return _advise(workload, gpu, spec=spec, is_ft=is_ft, ft_assumed=finetune is None, target=target, top=top, budget=budget,
                       context_bytes=context_bytes, currency=currency, progress=progress, t_start=t_start,
                       pool=own_pool if pool is True else (pool or None))
    finally:
        if own_pool is not None:
            own_pool.close()


def _advise(workload: Workload, gpu: GPU, *, spec: ModelSpec, is_ft: bool, ft_assumed: bool, target: int | None, top: int,
            budget: int, context_bytes: int | None, currency: str, progress: Callable[[str], None] | None,
            t_start: float, pool: TracePool | None) -> Advice:
    layout_cache: list[ModelLayout | str] = []

    def layout() -> ModelLayout | str:
        if not layout_cache:
            layout_cache.append(model_layout(workload))
        return layout_cache[0]

    techs: Techniques = applicable_techniques(workload, gpu, spec, finetune=is_ft, layout=layout)
    skipped = list(techs.skipped)
    search = _Search(workload, gpu, target=target, context_bytes=context_bytes, pool=pool)

    def admit(combo: tuple[Technique, ...]) -> bool:
        """Within the budget, not tried yet, and not hopeless by the persistent-state floor."""
        if search.evaluated + len(pending) >= budget:
            return False
        key = frozenset(t.key for t in combo)
        if any(o.key == key for o in search.outcomes) or any(frozenset(t.key for t in c) == key for c in pending):
            return False
        rej = search.prune(combo) if combo else None
        if rej is not None:
            search.pruned.append(rej)
            return False
        return True

    pending: list[tuple[Technique, ...]] = []

    def run(combo: tuple[Technique, ...]) -> _Outcome | None:
        if not admit(combo):
            return None
        if progress:
            progress(" + ".join(t.key for t in combo) or msg("the workload as given"))
        return search.evaluate(combo)

    def run_wave(combos: list[tuple[Technique, ...]]) -> list[_Outcome]:
        """Evaluate a wave of independent candidates; outcomes in the given order."""
        pending.clear()
        for c in combos:
            if admit(c):
                pending.append(c)
        todo = list(pending)
        pending.clear()
        if progress and todo:
            progress(", ".join(" + ".join(t.key for t in c) for c in todo))
        # with a trace pool the wave's first traces run side by side in the workers (trace.pool)
        search.prefetch([c for c in todo if not (c and c[-1] is OFFLOAD)])
        outs = [search.offload(c[:-1]) if c and c[-1] is OFFLOAD else search.evaluate(c) for c in todo]
        for c, o in zip(todo, outs, strict=True):
            if o.error is not None:
                key = "cpu-offload" if c[-1] is OFFLOAD else " + ".join(t.key for t in c)
                skipped.append(Skipped(key, Note.of("could not be applied to this model: {err}", err=o.error)))
        return outs

    if progress:
        progress(msg("the workload as given"))
    baseline = search.evaluate((), learn=True)
    if baseline.exception is not None:
        # as `gpuplan fit` reports it: the tracer's own error (which module/op, why, its hint and exit code)
        raise baseline.exception
    # target met in one micro-step as given: techniques that only trade speed for memory cannot help, and
    # the others are traced without accumulation first
    roomy = target is not None and baseline.fits and baseline.accum == 1
    if roomy:
        search.accum_first = False
    wave1, wave2, not_needed = _split_singles(techs, workload, roomy=roomy)
    skipped += not_needed
    # CPU offload (ZeRO-Offload) on this GPU, when the workload does not fit at all and its optimizer keeps state
    if workload.mode is Mode.TRAIN and baseline.max_micro == 0:
        rej = search.prune((OFFLOAD,))
        if workload.optimizer in (OptimizerKind.SGD, OptimizerKind.ADAFACTOR):
            skipped.append(Skipped("cpu-offload", Note.of("the optimizer keeps little state to offload")))
        elif rej is not None:
            search.pruned.append(rej)
        else:
            wave1.append((OFFLOAD,))
    elif workload.mode is Mode.TRAIN:
        skipped.append(Skipped("cpu-offload", Note.of("not needed: the workload fits as given (with gradient "
                                                      "accumulation where the target needs it)")))
    singles = [o for o in run_wave(wave1) if o.techniques[-1] is not OFFLOAD]
    if any(o.fits for o in search.outcomes):
        skipped += [Skipped(t.key, why) for t, why in wave2]
    else:
        singles += run_wave([(t,) for t, _ in wave2])
    # combinations
    ok = [o for o in singles if o.error is None]
    # memory savers: a larger largest micro-batch than as given (or, when nothing fits, less memory at batch 1)
    def saves(o: _Outcome) -> bool:
        if o.max_micro != baseline.max_micro:
            return o.max_micro > baseline.max_micro
        return o.max_micro == 0 and o.bytes_at_1 is not None and (baseline.bytes_at_1 is None
                                                                    or o.bytes_at_1 < baseline.bytes_at_1)

    savers = sorted((o for o in ok if not o.techniques[0].fast and saves(o)),
                    key=lambda o: (-o.max_micro, o.bytes_at_1 or 0))
    stack: list[Technique] = []
    for o in savers:
        if _combine((*stack, o.techniques[0])) is not None:
            stack.append(o.techniques[0])
    fast = [o.techniques[0] for o in ok if o.techniques[0].fast]
    # greedy: a combination is tried while combining keeps paying off (a faster plan than any of its parts,
    # or, while nothing fits, less memory); the lightest stack first when nothing fits yet
    by_key = {o.key: o for o in search.outcomes}

    def sps(o: _Outcome | None) -> float:
        return (o.time.samples_per_second or 0.0) if o is not None and o.fits and o.time is not None else 0.0

    def try_combo(c: tuple[Technique, ...], parts: list[tuple[Technique, ...]]) -> bool:
        """Run ``c``; True when it beats every part (or fits where none did)."""
        cc = _combine(c)
        if cc is None or len(cc) < 2:
            return False
        if _little_to_gain(cc, by_key):
            return False
        o = run(cc)
        if o is None:
            o = by_key.get(frozenset(t.key for t in cc))
            if o is None:
                return False
        by_key[o.key] = o
        best_part = max((sps(by_key.get(frozenset(t.key for t in p))) for p in parts), default=0.0)
        return (o.fits and sps(o) > best_part) or (not any_fit() and o.error is None)

    def any_fit() -> bool:
        return any(o.fits for o in search.outcomes)

    if not any_fit() and stack:
        try_combo(tuple(stack) + tuple(fast[:1]), [tuple(stack)])
    for f in fast[:1]:
        for s_ in stack[:2]:
            if not try_combo((f, s_), [(f,), (s_,)]):
                break
    for k in range(2, len(stack) + 1):
        head = tuple(stack[:k]) + tuple(fast[:1])
        prev = tuple(stack[:k - 1]) + tuple(fast[:1])
        if not try_combo(head, [prev, (stack[k - 1],)]):
            break
    # last resort: a smaller input on top of the lightest stack
    if not any(o.fits for o in search.outcomes) and techs.last_resort is not None:
        lightest = tuple(stack) if stack else ()
        combo = _combine((*lightest, techs.last_resort))
        if combo is not None:
            run(combo)
    elif techs.last_resort is not None:
        skipped.append(Skipped(techs.last_resort.key, Note.of("not needed: other plans fit without changing the "
                                                              "input")))
    # still nothing: the configurations that need the least memory, whatever this GPU runs, for the answer
    # "how much memory, which GPU" (traced at batch 1; a full candidate when this GPU could run it)
    if not any(o.fits for o in search.outcomes):
        for combo in lightest_combos(workload, spec, techs, finetune=is_ft, layout=layout)[:2]:
            cc = _combine(combo)
            if cc is None or any(o.key == frozenset(t.key for t in cc) for o in search.outcomes + search.probes):
                continue
            runnable = _runs_on(cc, gpu) and search.prune(cc) is None
            o = search.evaluate(cc) if runnable else search.probe(cc)
            if o.error is not None and any(t.key == "checkpointing" for t in cc):
                search.probe(tuple(t for t in cc if t.key != "checkpointing"))
    # rank, check the best with a real trace, re-rank if that changed it
    fitting = sorted((o for o in search.outcomes if o.fits), key=_speed_key)
    search.traces.prefetch([o.workload for o in fitting[:1] if not o.verified and o.workload is not None])
    for _ in range(2):
        if not fitting:
            break
        search.verify(fitting[0])
        fitting = sorted((o for o in fitting if o.fits), key=_speed_key)
        if not fitting or fitting[0].verified:
            break
    plans = [_plan(o, i + 1, target, workload, gpu) for i, o in enumerate(fitting[:top])]
    rejected = [Rejected([t.change() for t in o.techniques],
                         Note.of("could not be traced: {err}", err=o.error) if o.error else
                         Note.of("does not fit even at batch 1: needs {need} of {cap} usable",
                                 need=_size(o.bytes_at_1), cap=_size(search.capacity)),
                         o.bytes_at_1)
                for o in search.outcomes if not o.fits and o.error is None] + search.pruned
    nothing: NothingFits | None = None
    if not plans:
        traced = [o for o in search.outcomes + search.probes if o.bytes_at_1 is not None and o.error is None
                  and all(t.risk is not Risk.TASK for t in o.techniques)]
        if traced:
            lightest_o = min(traced, key=lambda o: o.bytes_at_1 or 0)
            small, small_gpu, options, notes = _catalog_options(search, lightest_o, currency,
                                                                attention=spec.family in ("transformer", "llm"))
            if not _runs_on(lightest_o.techniques, gpu):
                notes.insert(0, Note.of("this configuration needs bitsandbytes, which {gpu} does not run; the GPUs "
                                        "listed do", gpu=gpu.name))
            nothing = NothingFits([t.change() for t in lightest_o.techniques], lightest_o.bytes_at_1, small,
                                  small_gpu, options, baseline.bytes_at_1, notes)
        else:
            nothing = NothingFits([], None, None, None, [], None,
                                  [Note.of("no candidate could be traced, so no memory figure is available")])
    warnings = precision_warnings(gpu, workload.precision, workload.mode)
    for p in plans:
        for wmsg in precision_warnings(gpu, p.workload.precision, p.workload.mode):
            if wmsg not in warnings:
                warnings.append(wmsg)
    notes: list[Note] = []
    if is_ft and ft_assumed and workload.mode is Mode.TRAIN:
        notes.append(Note.of("assumed fine-tuning of a pretrained model (a transformer/Hugging Face model), so "
                             "freezing and LoRA were considered; pass --from-scratch to leave them out"))
    if target is None and workload.mode is Mode.TRAIN:
        notes.append(Note.of("no --target-batch: each plan runs at the largest batch it fits, so plans differ in "
                             "batch size; give --target-batch to keep an effective batch"))
    stats = SearchStats(search.evaluated, len(search.pruned), search.traces.count, search.traces.seconds,
                        time.perf_counter() - t_start)
    return Advice(gpu=_summary(gpu), model=workload.model, mode=workload.mode.value, target_batch=target,
                  finetune=is_ft, plans=plans, rejected=rejected, skipped=skipped, nothing_fits=nothing,
                  warnings=warnings, notes=notes, search=stats)

