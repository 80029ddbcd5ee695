"""Time of a ``generate()`` call (``--mode generate``) on one GPU, from a ``GenerateTrace``.

The per-op model of ``timing.model`` (same constants, same host/GPU schedule) times three traced
iterations of the generation loop, each as one step (HF's loop synchronises every iteration on the
stopping criteria, so iterations do not overlap):

  prefill          the prompt's forward pass and the first token's selection (time to first token)
  decode(first)    the first decode step, cache of P tokens
  decode(last)     the last decode step, cache of P + N - 2 tokens

A decode step reads every weight once and the whole KV cache once: memory-bound for small batches,
and host-bound when the GPU is fast (eager PyTorch issues every op from Python). Its time is affine
in the cache length (the attention's bytes grow by one token per step), so the mean over the
``N - 1`` decode steps is the mean of the first and the last one (an upper bound when a sliding
window stops the cache growing midway).

  step_seconds             = prefill + (N - 1) x mean decode step: one generate() call for the batch
  samples_per_second       = batch / step_seconds (sequences per second, end to end)
  tokens_per_second        = batch / mean decode step (generated tokens per second during decoding,
                             what "tokens/s" benchmarks such as llama.cpp's tg report)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuplan.i18n import msg
from gpuplan.timing.model import (
    Bound,
    RateMissingError,
    TimeResult,
    TimingConstants,
    TopOp,
    default_constants,
    op_arrays,
    op_times,
    precision_notes,
    summarize,
)
from gpuplan.workload.spec import Precision

if TYPE_CHECKING:
    from gpuplan.catalog.types import GPU
    from gpuplan.trace.generate import GenerateTrace
    from gpuplan.trace.records import OpRecord


@dataclass
class GenerateTimeResult(TimeResult):
    """``TimeResult`` of a whole generate() call, with the generation's own figures (``None`` = N/A).

    The inherited fields keep their meaning for one "step" = one generate() call of the batch:
    ``step_seconds`` = prefill + all decode steps, ``forward_seconds`` = ``step_seconds`` (there is no
    backward or optimizer), ``samples_per_second`` = sequences per second.
    """

    prompt_len: int = 0
    new_tokens: int = 0
    prefill_seconds: float | None = None  # time to the first token (prompt forward + its selection)
    decode_seconds_per_token: float | None = None  # one decode step (a token for each sequence), mean
    decode_seconds: float | None = None  # all N - 1 decode steps
    tokens_per_second: float | None = None  # batch / decode_seconds_per_token


def predict_generate_time(trace: GenerateTrace, gpu: GPU, precision: Precision | str, *,
                          constants: TimingConstants | None = None, top: int = 10) -> GenerateTimeResult:
    """Prefill seconds, seconds per decoded token, tokens/s and the whole call's time of ``trace`` on ``gpu``."""
    precision = Precision(precision)
    c = constants or default_constants()
    steps = trace.decode_steps
    parts: list[tuple[str, list[OpRecord], float]] = [("prefill", trace.prefill_ops, 1.0)]
    if steps == 1:
        parts.append(("decode", trace.decode_first_ops, 1.0))
    elif steps >= 2:
        parts.append(("decode_first", trace.decode_first_ops, steps / 2))
        parts.append(("decode_last", trace.decode_last_ops, steps / 2))
    results: dict[str, TimeResult] = {}
    try:
        for label, ops, _ in parts:
            arrays = op_arrays(ops)
            times = op_times(arrays, gpu, precision, c)
            results[label] = summarize(arrays, times, gpu, precision, trace.batch, top=top)
    except RateMissingError as err:
        return _na(trace, gpu, precision, err.args[0] if err.args else str(err))
    prefill = float(results["prefill"].step_seconds or 0.0)
    per_token: float | None = None
    if steps == 1:
        per_token = results["decode"].step_seconds
    elif steps >= 2:
        per_token = (float(results["decode_first"].step_seconds or 0.0)
                     + float(results["decode_last"].step_seconds or 0.0)) / 2
    decode = steps * per_token if per_token is not None else 0.0
    total = prefill + decode

    by_class: dict[str, float] = {}
    top_agg: dict[tuple[str, str, str], list[float | str]] = {}
    busy = host = 0.0
    contribution: dict[str, float] = {}
    for label, _, weight in parts:
        r = results[label]
        for k, v in r.seconds_by_class.items():
            by_class[k] = by_class.get(k, 0.0) + weight * v
        for op in r.top_ops:
            entry = top_agg.setdefault((op.name, op.module, op.op_class), [0.0, op.bound])
            entry[0] = float(entry[0]) + weight * op.seconds
        busy += weight * float(r.gpu_busy_seconds or 0.0)
        host += weight * float(r.host_seconds or 0.0)
        contribution[label] = weight * float(r.step_seconds or 0.0)
    dominant = results[max(contribution, key=lambda k: contribution[k])]
    top_ops = [TopOp(name=k[0], module=k[1], op_class=k[2], seconds=float(v[0]), bound=str(v[1]))
               for k, v in sorted(top_agg.items(), key=lambda kv: -float(kv[1][0]))[:top]]
    notes: list[str] = []
    for r in results.values():
        notes.extend(n for n in r.notes if n not in notes)
    notes.extend(n for n in precision_notes(gpu, precision) if n not in notes)
    notes.append(msg("tokens/s = generated tokens per second while decoding (batch / seconds per decode step); "
                     "time per step = one generate() call: prefill + every decode step"))
    return GenerateTimeResult(
        gpu=gpu.name,
        precision=precision.value,
        batch=trace.batch,
        forward_seconds=total,
        backward_seconds=0.0,
        optimizer_seconds=0.0,
        step_seconds=total,
        samples_per_second=trace.batch / total if total > 0 else None,
        bound=dominant.bound or Bound.OVERHEAD.value,
        gpu_busy_seconds=busy,
        host_seconds=host,
        seconds_by_class=by_class,
        top_ops=top_ops,
        notes=notes,
        prompt_len=trace.prompt_len,
        new_tokens=trace.new_tokens,
        prefill_seconds=prefill,
        decode_seconds_per_token=per_token,
        decode_seconds=decode if per_token is not None else None,
        tokens_per_second=trace.batch / per_token if per_token else None,
    )


def _na(trace: GenerateTrace, gpu: GPU, precision: Precision, reason: str) -> GenerateTimeResult:
    return GenerateTimeResult(
        gpu=gpu.name, precision=precision.value, batch=trace.batch, forward_seconds=None, backward_seconds=None,
        optimizer_seconds=None, step_seconds=None, samples_per_second=None, bound=None, notes=[reason],
        na_reason=reason, prompt_len=trace.prompt_len, new_tokens=trace.new_tokens)
