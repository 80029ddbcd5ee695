"""``--mode generate``: what ``model.generate()`` of a decoder LM allocates and runs, traced under fake tensors.

What transformers 5.x does (read in the installed source, ``generation/utils.py`` and ``cache_utils.py``):

* ``generate()`` with no cache given makes a ``DynamicCache(config=...)`` (``cache_implementation`` None).
  Each layer's ``update()`` grows keys and values by ``torch.cat([old, new], dim=-2)``: every decode step
  reallocates every layer's K and V one token longer and frees the old ones. Sliding-window layers
  (Mistral, Gemma-2) concatenate, then keep a view of the last ``window - 1`` tokens.
* The prefill runs the whole prompt with ``logits_to_keep=1`` (set by ``generate`` when ``forward``
  accepts it): logits for the last position only.
* The loop (``_sample``): ``attention_mask`` grows by ``torch.cat``; ``next_token_logits =
  logits[:, -1].to(copy=True, dtype=float32)``; greedy ``argmax`` (``GenerationConfig`` defaults);
  ``input_ids`` grows by ``torch.cat``; ``del outputs``. ``max_new_tokens = N`` means one prefill forward
  (it yields the first token) and ``N - 1`` decode forwards, so the cache ends at ``P + N - 1`` tokens.
  (The deferred stop check that runs one extra forward is used on MPS only.)
* With an all-ones attention mask, ``masking_utils._ignore_causal_mask_sdpa`` drops the mask (query
  length 1, or key length = query length), so SDPA runs causal (prefill) or unmasked (decode), and the
  SDPA integration passes GQA to the kernel (``enable_gqa``) instead of repeating K/V. We therefore
  call the model without a mask (same kernels) and keep the mask tensor only as the bookkeeping it is.

What is traced: the prefill, the first decode step and the last decode step (on a cache pre-filled to
``P + N - 2`` tokens in the layout the real loop leaves). What the allocator model replays: the prefill
and the first and last decode steps event by event; the decode steps in between as their cache growth
(every cache tensor, ``input_ids`` and ``attention_mask`` reallocated one token longer, the old one freed,
in the traced order; sizes exact: linear in the cache length, capped at the last step's size, which
is what sliding windows do). Their temporaries, freed within each step, are left out; with more than
``MAX_MIDDLE_STEPS`` such steps an evenly spaced subset is replayed. Both are stated as assumptions.
"""

from __future__ import annotations

import inspect
import math
import time
import types
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from gpuplan.errors import ModelBuildError, TraceError, UsageError
from gpuplan.i18n import msg
from gpuplan.trace.autocast import CudaAutocastPolicy
from gpuplan.trace.kernels import TargetKernels
from gpuplan.trace.pool import one_fake_session
from gpuplan.trace.recorder import Recorder
from gpuplan.trace.records import (
    Category,
    EventKind,
    KernelProfile,
    MemEvent,
    OpClass,
    OpRecord,
    Phase,
    Trace,
)
from gpuplan.trace.tracer import _Hooks, _low_dtype, build_model
from gpuplan.workload import techniques
from gpuplan.workload.spec import Mode, Precision, Workload
from gpuplan.workload.zoo import ModelSpec, resolve_model

DEFAULT_PROMPT_LEN = 512
DEFAULT_NEW_TOKENS = 256
MAX_MIDDLE_STEPS = 128  # decode steps replayed as cache growth between the first and the last one
# learned absolute position embeddings: positions past the table are an index error on the GPU
_LEARNED_POSITION_MODULES = ("wpe", "embed_positions", "position_embeddings")


@dataclass
class GenerateTrace(Trace):
    """A whole ``generate()`` call: prefill, then ``new_tokens - 1`` decode steps.

    ``ops`` holds the prefill ops (phase PREFILL), then the first decode step's ops, then (when there
    are at least two decode steps) the last decode step's ops (phase DECODE); the counts below slice
    them. These counts do not depend on the batch, so traces interpolated in the batch keep them.
    """

    prompt_len: int = 0
    new_tokens: int = 0
    n_prefill_ops: int = 0
    n_decode_first_ops: int = 0
    n_decode_last_ops: int = 0  # 0 when there are fewer than two decode steps
    middle_steps_replayed: int = 0  # decode steps between the first and the last replayed as cache growth
    assumptions: tuple[str, ...] = ()

    @property
    def decode_steps(self) -> int:
        """Forward passes after the prefill (each makes one token per sequence)."""
        return max(0, self.new_tokens - 1)

    @property
    def prefill_ops(self) -> list[OpRecord]:
        return self.ops[: self.n_prefill_ops]

    @property
    def decode_first_ops(self) -> list[OpRecord]:
        return self.ops[self.n_prefill_ops: self.n_prefill_ops + self.n_decode_first_ops]

    @property
    def decode_last_ops(self) -> list[OpRecord]:
        if not self.n_decode_last_ops:
            return self.decode_first_ops
        start = self.n_prefill_ops + self.n_decode_first_ops
        return self.ops[start: start + self.n_decode_last_ops]

    @property
    def kv_cache_bytes(self) -> int:
        """Bytes of the KV cache at the end of the generation (cache tensors never freed in the stream)."""
        freed = {e.block for e in self.events if e.kind is EventKind.FREE}
        return sum(e.nbytes for e in self.events
                   if e.kind is EventKind.ALLOC and e.category is Category.KV_CACHE and e.block not in freed)


def kv_cache_bytes_formula(config: Any, tokens: int, batch: int, dtype_bytes: int) -> int:
    """KV cache of a decoder with full attention in every layer:
    2 (K and V) x layers x kv_heads x head_dim x tokens x batch x bytes per element
    (the DynamicCache layout [batch, kv_heads, tokens, head_dim] per layer)."""
    layers = int(getattr(config, "num_hidden_layers", None) or config.n_layer)
    heads = int(getattr(config, "num_attention_heads", None) or config.n_head)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    hidden = int(getattr(config, "hidden_size", None) or config.n_embd)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    return 2 * layers * kv_heads * head_dim * tokens * batch * dtype_bytes


# --------------------------------------------------------------------------------------------------
# lengths and refusals
# --------------------------------------------------------------------------------------------------


def _refuse_non_decoder(spec: ModelSpec) -> None:
    if spec.is_decoder_lm:
        return
    why = {
        "masked-lm": msg("an encoder-only masked language model (BERT-style): it predicts masked tokens in place and "
                         "has no causal LM head or KV cache to decode with"),
        "seq2seq": msg("an encoder-decoder model (T5/BART): its generate() (encoder pass, then a decoder with self- "
                       "and cross-attention caches) is not modelled yet"),
        "image-classification": msg("an image classifier: it does not generate tokens"),
        "seq-classification": msg("a sequence classifier: it does not generate tokens"),
    }.get(spec.hf_task or "", msg("a {family} model, not a decoder language model", family=spec.family))
    raise UsageError(
        msg("--mode generate needs a decoder language model; {model} is {why}.", model=repr(spec.name), why=why),
        hint=msg("Use --mode infer for one forward pass, or a causal LM (gpt2, meta-llama/Meta-Llama-3-8B, "
                 "mistralai/Mistral-7B-v0.1, Qwen/Qwen2.5-0.5B, or --hf-config with a *ForCausalLM config)."))


def generate_lengths(w: Workload) -> tuple[int, int]:
    """(prompt tokens, new tokens) of a generate workload; ``--seq-len`` stands for the prompt length."""
    if w.prompt_len is not None and w.seq_len is not None and w.prompt_len != w.seq_len:
        raise UsageError(msg("--seq-len {seq} and --prompt-len {prompt} disagree: with --mode generate give the "
                             "prompt length once (--prompt-len).", seq=w.seq_len, prompt=w.prompt_len))
    prompt = w.prompt_len if w.prompt_len is not None else (w.seq_len or DEFAULT_PROMPT_LEN)
    new = w.new_tokens if w.new_tokens is not None else DEFAULT_NEW_TOKENS
    if prompt <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--prompt-len", value=prompt))
    if new <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--new-tokens", value=new))
    return prompt, new


def _position_limit(model: nn.Module) -> tuple[int | None, bool]:
    """(maximum positions of the config, whether the model has a learned position table)."""
    cfg = getattr(model, "config", None)
    limit = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    learned = any(name.rsplit(".", 1)[-1] in _LEARNED_POSITION_MODULES and isinstance(m, nn.Embedding)
                  for name, m in model.named_modules())
    return (int(limit) if limit else None), learned


# --------------------------------------------------------------------------------------------------
# kernels the target runs that the CPU trace would not
# --------------------------------------------------------------------------------------------------


def _is_4bit(m: techniques.QuantLinear) -> bool:
    return int(m.packed.numel()) < int(m.in_features) * int(m.out_features)  # int8 packs one weight per byte


def _single_token_gemv(model: nn.Module, rec: Recorder) -> int:
    """bitsandbytes runs a 4-bit Linear on a single token (batch-1 decode) as ``gemv_4bit`` on the packed
    weight, without dequantizing it (``bnb.matmul_4bit``: ``A.numel() == A.shape[-1]`` and no grad);
    larger inputs dequantize, as ``QuantLinear`` traces. Returns the number of layers patched."""
    count = 0
    for m in model.modules():
        if not isinstance(m, techniques.QuantLinear) or not _is_4bit(m):
            continue
        dequant_forward = m.forward

        def forward(self: techniques.QuantLinear, x: torch.Tensor, _dequant: Any = dequant_forward) -> torch.Tensor:
            if x.numel() != x.shape[-1] or torch.is_grad_enabled():
                return _dequant(x)
            x = x.to(self.compute_dtype)
            nbytes = int(self.packed.numel()) + 4 * int(self.scales.numel()) + x.numel() * x.element_size()
            with rec.fused("gpuplan.gemv_4bit", OpClass.MATMUL, flops=2.0 * self.in_features * self.out_features,
                           dtype=x.dtype, bytes_in=nbytes, bytes_out=self.out_features * x.element_size(),
                           shapes=(tuple(x.shape), (self.out_features, self.in_features)),
                           tensor_core_eligible=False):
                y = x.new_empty((*x.shape[:-1], self.out_features))
            return y + self.bias if self.bias is not None else y

        m.forward = types.MethodType(forward, m)  # type: ignore[method-assign]
        count += 1
    return count


# --------------------------------------------------------------------------------------------------
# the generation loop
# --------------------------------------------------------------------------------------------------


def _forward(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, cache: Any, n_in: int,
             logits_kw: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """One iteration of ``GenerationMixin._sample`` (greedy): forward, mask growth, token choice, ids growth."""
    model_ids = ids[:, -n_in:].clone()  # prepare_inputs_for_generation clones the sliced input_ids
    out = model(input_ids=model_ids, past_key_values=cache, use_cache=True, return_dict=True, **logits_kw)
    del model_ids
    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)  # _update_model_kwargs_for_generation
    logits = out.logits[:, -1].to(copy=True, dtype=torch.float32)
    next_tokens = torch.argmax(logits, dim=-1)
    ids = torch.cat([ids, next_tokens[:, None]], dim=-1)
    del out, logits, next_tokens
    return ids, mask


def _cache_tensors(cache: Any) -> list[torch.Tensor]:
    """The tensors a cache holds, layer by layer (keys, values and any other per-token state)."""
    out: list[torch.Tensor] = []
    for layer in getattr(cache, "layers", []):
        for v in vars(layer).values():
            if isinstance(v, torch.Tensor) and v.dim() >= 2:
                out.append(v)
    return out


def _prefill_cache(cache: Any, length: int, ids: torch.Tensor, mask: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Put the cache (and ids/mask) in the state the real loop has before the last decode step:
    ``length`` cached tokens. Returns None for cache layers whose state we do not know how to build."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    for layer in cache.layers:
        if type(layer) is DynamicSlidingWindowLayer:
            window = int(layer.sliding_window)
            # the previous step concatenated min(length - 1, window - 1) kept tokens and one new token, and
            # keeps a view of the last window - 1 of them
            stored = min(length - 1, window - 1) + 1
            for name in ("keys", "values"):
                t = getattr(layer, name)
                full = t.new_empty((*t.shape[:-2], stored, t.shape[-1]))
                setattr(layer, name, full[..., -(window - 1):, :])
            layer.cumulative_length = length
        elif type(layer) is DynamicLayer:
            for name in ("keys", "values"):
                t = getattr(layer, name)
                setattr(layer, name, t.new_empty((*t.shape[:-2], length, t.shape[-1])))
        else:
            return None
    b = ids.shape[0]
    return ids.new_zeros((b, length + 1)), mask.new_ones((b, length + 1))


# --------------------------------------------------------------------------------------------------
# the event stream
# --------------------------------------------------------------------------------------------------


@dataclass
class _Step:
    """One traced loop iteration: its events, and the carried state (slots) before and after it.

    Slots are the blocks one iteration hands to the next: every cache tensor, then input_ids and
    attention_mask (before the prefill the cache is empty: only the last two)."""

    start: int
    end: int
    op_start: int
    op_end: int
    slots_before: list[int | None]
    slots_after: list[int | None]


def _slot_blocks(rec: Recorder, cache: Any, ids: torch.Tensor, mask: torch.Tensor) -> list[int | None]:
    return [rec.block_of(t) for t in (*_cache_tensors(cache), ids, mask)]


class _Stream:
    """Builds the replayed event list: traced events kept as they are, synthesized ones with new blocks."""

    def __init__(self, rec: Recorder, categories: dict[int, Category]) -> None:
        self.rec = rec
        self.cat = categories
        self.events: list[MemEvent] = []
        self.next_block = rec._next_block
        self.sizes: dict[int, int] = {b.block: b.nbytes for b in rec.blocks.values()}

    def copy(self, start: int, end: int, phase: Phase, op_shift: int, remap: dict[int, int] | None = None) -> None:
        """Traced events [start, end) as they are (op indices shifted to the trace's op list)."""
        for e in self.rec.events[start:end]:
            block = (remap or {}).get(e.block, e.block)
            self.events.append(MemEvent(e.kind, block, e.nbytes, self.cat.get(block, self.cat.get(e.block, e.category)),
                                        max(-1, e.op_index + op_shift), phase, e.module, e.stream))

    def alloc(self, nbytes: int, category: Category, op_index: int, module: str) -> int:
        block = self.next_block
        self.next_block += 1
        self.sizes[block] = nbytes
        self.cat[block] = category
        self.events.append(MemEvent(EventKind.ALLOC, block, nbytes, category, op_index, Phase.DECODE, module))
        return block

    def free(self, block: int, op_index: int, module: str) -> None:
        self.events.append(MemEvent(EventKind.FREE, block, self.sizes[block], self.cat.get(block, Category.TEMPORARY),
                                    op_index, Phase.DECODE, module))


def _growth_template(rec: Recorder, step: _Step) -> list[tuple[str, int, int, str]]:
    """The slot events of one decode step in order: ("alloc", slot, op_index, module) for a new slot
    tensor, ("free", slot, ...) for the previous one."""
    after = {b: k for k, b in enumerate(step.slots_after) if b is not None}
    before = {b: k for k, b in enumerate(step.slots_before) if b is not None}
    out: list[tuple[str, int, int, str]] = []
    for e in rec.events[step.start:step.end]:
        if e.kind is EventKind.ALLOC and e.block in after:
            out.append(("alloc", after[e.block], e.op_index, e.module))
        elif e.kind is EventKind.FREE and e.block in before and e.block not in after:
            out.append(("free", before[e.block], e.op_index, e.module))
    return out


def _middle_steps(first: int, last: int) -> list[int]:
    """Decode steps strictly between ``first`` and ``last`` that are replayed as cache growth."""
    steps = list(range(first + 1, last))
    if len(steps) <= MAX_MIDDLE_STEPS:
        return steps
    n = MAX_MIDDLE_STEPS
    return sorted({first + 1 + round(i * (len(steps) - 1) / (n - 1)) for i in range(n)})


# --------------------------------------------------------------------------------------------------
# the trace
# --------------------------------------------------------------------------------------------------


def _build(spec: ModelSpec, w: Workload, fake: FakeTensorMode) -> tuple[nn.Module, int]:
    """The model as the tracer builds it, in eval mode, and its parameter count (quantized Linears
    count the weights they store packed)."""
    model = build_model(spec, w, fake)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    n_params += sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, techniques.QuantLinear))
    return model, n_params


@one_fake_session
def trace_generate(w: Workload, profile: KernelProfile | None = None, *, every_step: bool = False) -> GenerateTrace:
    """Trace ``model.generate(max_new_tokens=N)`` on a batch of equal-length prompts of P tokens.

    ``every_step`` traces and replays every decode step in full (slow: for checking the default,
    which traces the first and the last decode step and replays the ones between as cache growth)."""
    profile = profile or KernelProfile()
    if w.mode is not Mode.GENERATE:
        raise UsageError("trace_generate needs a workload with mode generate.")
    if w.batch <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--batch", value=w.batch))
    if w.inputs:
        raise UsageError(msg("--input does not apply to --mode generate: the inputs are the prompt's token ids "
                             "(--prompt-len)."))
    prompt, new = generate_lengths(w)
    t0 = time.perf_counter()
    spec = resolve_model(w)
    _refuse_non_decoder(spec)
    fake = FakeTensorMode(allow_non_fake_inputs=True)  # host constants made at build time (tracer.build_model)
    model, n_params = _build(spec, w, fake)
    warnings: list[str] = []
    limit, learned = _position_limit(model)
    final_len = prompt + new - 1  # tokens in the cache after the last decode step
    if limit is not None and final_len > limit:
        if learned:
            raise UsageError(msg("prompt {prompt} + {new} new tokens needs {n} positions; {model} has a learned "
                                 "position table of {limit}.", prompt=prompt, new=new, n=final_len,
                                 model=repr(spec.name), limit=limit),
                             hint=msg("Keep --prompt-len + --new-tokens - 1 <= {limit}.", limit=limit))
        warnings.append(msg("prompt {prompt} + {new} new tokens exceeds the model's {limit} positions: it runs, but "
                            "quality past the trained context is not assured", prompt=prompt, new=new, limit=limit))
    steps = new - 1  # decode forwards
    rec = Recorder()
    kernels = TargetKernels(profile, rec)
    traced, gemv, prefilled_ok = _run_loop(model, spec, w, rec, kernels, fake, prompt, steps, every_step)
    categories = _categories(rec, traced)

    # ---- the event stream ---------------------------------------------------------------------------
    stream = _Stream(rec, categories)
    pre = traced["prefill"]
    op_shift: dict[str, int] = {}
    n_ops = 0
    for label in ("prefill", "first", "last"):
        if label in traced:
            st = traced[label]
            op_shift[label] = n_ops - st.op_start
            n_ops += st.op_end - st.op_start
    # setup (weights) and the prompt's input_ids and attention_mask, created before the prefill
    stream.copy(0, pre.start, Phase.SETUP, -pre.op_start - 1)
    stream.copy(pre.start, pre.end, Phase.PREFILL, op_shift["prefill"])
    assumptions: list[str] = [
        msg("model.generate(max_new_tokens={new}) on {batch} prompt(s) of {prompt} tokens, no padding: greedy "
            "decoding (GenerationConfig defaults), the default DynamicCache, logits for the last position only",
            new=new, batch=w.batch, prompt=prompt),
    ]
    middle = 0
    if steps >= 1:
        first = traced["first"]
        stream.copy(first.start, first.end, Phase.DECODE, op_shift["first"])
    if steps == 2 or (every_step and steps >= 2):
        for k in range(2, steps):
            st = traced[f"step{k}"]
            stream.copy(st.start, st.end, Phase.DECODE, -st.op_start - 1)
        last = traced["last"]
        stream.copy(last.start, last.end, Phase.DECODE, op_shift["last"])
    elif steps >= 3:
        last = traced["last"]
        if not len(pre.slots_after) == len(first.slots_after) == len(last.slots_before) == len(last.slots_after):
            raise TraceError(msg("The KV cache of {model} changes its layout between decode steps; gpuplan cannot "
                                 "replay its growth.", model=repr(spec.name)),
                             hint=msg("Report the model; --new-tokens 3 or fewer traces every step."))
        current = _replay_growth(stream, rec, pre, first, last, steps, op_shift["first"])
        middle = len(_middle_steps(1, steps))
        # the last step frees the pre-filled state: in the stream that is the previous step's state
        remap = {b: c for b, c in zip(last.slots_before, current, strict=True) if b is not None and c is not None}
        stream.copy(last.start, last.end, Phase.DECODE, op_shift["last"], remap)
        spaced = msg(" ({middle} evenly spaced of {n})", middle=middle, n=steps - 2) if middle < steps - 2 else ""
        assumptions.append(msg("decode steps 2..{last} are replayed as their cache growth only{spaced}: each cache "
                               "tensor reallocated one token longer by torch.cat, then the old one freed; their "
                               "temporaries (freed within each step) are replayed for the first and the last decode "
                               "step", last=steps - 1, spaced=spaced))
        if not prefilled_ok:
            assumptions.append(msg("the last decode step was traced on a cache built by a prefill at full length "
                                   "(a cache layer type gpuplan does not know)"))
    if gemv:
        assumptions.append(msg("batch-1 decode runs the {n} 4-bit Linear layers as bitsandbytes gemv_4bit on the "
                               "packed weights (no dequantized copy)", n=gemv))

    # ---- ops ----------------------------------------------------------------------------------------
    ops: list[OpRecord] = []
    counts = [0, 0, 0]
    for n, label in enumerate(("prefill", "first", "last")):
        if label not in traced:
            continue
        st = traced[label]
        phase = Phase.PREFILL if label == "prefill" else Phase.DECODE
        chunk = rec.ops[st.op_start:st.op_end]
        ops.extend(replace(o, index=len(ops) + k, phase=phase) for k, o in enumerate(chunk))
        counts[n] = len(chunk)

    state_bytes: dict[str, int] = {}
    for b in rec.blocks.values():
        if b.phase is Phase.SETUP and b.category in (Category.PARAMETER, Category.BUFFER):
            state_bytes[b.category.value] = state_bytes.get(b.category.value, 0) + b.nbytes
    module_act: dict[str, int] = {}
    for e in stream.events:
        if e.kind is EventKind.ALLOC and e.phase is Phase.PREFILL and e.category is Category.ACTIVATION:
            module_act[e.module] = module_act.get(e.module, 0) + e.nbytes
    uncovered = []
    if "math" in kernels.backends_used and profile.attention != "math":
        uncovered.append(msg("attention with a mask or dtype the fused kernels do not take: traced as the math "
                             "backend"))
    return GenerateTrace(
        workload_key=repr(w.with_batch(0)),
        batch=w.batch,
        kernel_profile=profile,
        ops=ops,
        events=stream.events,
        param_count=n_params,
        trainable_param_count=0,
        bytes_by_category=state_bytes,
        module_activation_bytes=module_act,
        uncovered=uncovered,
        warnings=warnings,
        trace_seconds=time.perf_counter() - t0,
        family=spec.family,
        kernels_used=tuple(sorted(kernels.backends_used)),
        prompt_len=prompt,
        new_tokens=new,
        n_prefill_ops=counts[0],
        n_decode_first_ops=counts[1],
        n_decode_last_ops=counts[2],
        middle_steps_replayed=middle,
        assumptions=tuple(assumptions),
    )


@dataclass
class _Loop:
    """The state of the generation loop under the recorder."""

    model: nn.Module
    rec: Recorder
    autocast: Any
    logits_kw: dict[str, Any]
    ids: torch.Tensor
    mask: torch.Tensor
    cache: Any

    def step(self, n_in: int) -> _Step:
        """One iteration on the last ``n_in`` tokens of ``ids``, recorded."""
        rec = self.rec
        before = _slot_blocks(rec, self.cache, self.ids, self.mask)
        start, op_start = len(rec.events), len(rec.ops)
        rec.phase = Phase.FORWARD
        rec.recording_ops = True
        with self.autocast():
            self.ids, self.mask = _forward(self.model, self.ids, self.mask, self.cache, n_in, self.logits_kw)
        rec.recording_ops = False
        rec.phase = Phase.SETUP
        return _Step(start, len(rec.events), op_start, len(rec.ops), before,
                     _slot_blocks(rec, self.cache, self.ids, self.mask))


def _run_loop(model: nn.Module, spec: ModelSpec, w: Workload, rec: Recorder, kernels: TargetKernels,
              fake: FakeTensorMode, prompt: int, steps: int, every_step: bool
              ) -> tuple[dict[str, _Step], int, bool]:
    """Run the prefill, the first decode step and the last one (on a pre-filled cache) under the recorder."""
    from transformers import DynamicCache

    batch = w.batch
    low = _low_dtype(w.precision)
    amp_dtype = low if (w.precision.is_amp and low is not None) else None
    accepts_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
    logits_kw = {"logits_to_keep": 1} if accepts_keep else {}
    traced: dict[str, _Step] = {}
    gemv = 0
    prefilled_ok = True
    with ExitStack() as stack:
        stack.enter_context(fake)
        stack.enter_context(rec)
        stack.enter_context(kernels)
        stack.enter_context(_Hooks(model, rec))
        stack.enter_context(torch.no_grad())
        amp = stack.enter_context(CudaAutocastPolicy(amp_dtype)) if amp_dtype is not None else None
        rec.phase = Phase.SETUP
        for p in model.parameters():
            rec.track(p, Category.PARAMETER)
        for name, b in model.named_buffers():
            rec.track(b, Category.PARAMETER if name.endswith(("packed", "scales")) else Category.BUFFER)
        if batch == 1 and w.precision in (Precision.INT4, Precision.NF4):
            gemv = _single_token_gemv(model, rec)
        autocast = amp.region if amp is not None else nullcontext
        vocab = max(2, min(int(spec.vocab_size or 1000), 2**31 - 1))
        try:
            loop = _Loop(model, rec, autocast, logits_kw, torch.randint(0, vocab, (batch, prompt)),
                         torch.ones((batch, prompt), dtype=torch.int64), DynamicCache(config=model.config))
            traced["prefill"] = loop.step(prompt)
            if steps >= 1:
                traced["first"] = loop.step(1)
            if steps == 2 or (every_step and steps >= 2):
                for k in range(2, steps):
                    traced[f"step{k}"] = loop.step(1)
                traced["last"] = loop.step(1)
            elif steps >= 3:
                state = _prefill_cache(loop.cache, prompt + steps - 1, loop.ids, loop.mask)
                if state is None:  # an unknown cache layout: build it by a prefill at that length
                    prefilled_ok = False
                    loop.cache = DynamicCache(config=model.config)
                    ids = torch.randint(0, vocab, (batch, prompt + steps - 1))
                    with autocast():
                        model(input_ids=ids, past_key_values=loop.cache, use_cache=True, **logits_kw)
                    loop.ids = torch.cat([ids, ids[:, -1:]], dim=-1)
                    loop.mask = torch.ones_like(loop.ids)
                    del ids
                else:
                    loop.ids, loop.mask = state
                traced["last"] = loop.step(1)
            del loop
        except (UsageError, ModelBuildError, TraceError):
            raise
        except Exception as e:
            where = repr(rec.module) if rec.module else msg("the model's top level")
            raise TraceError(
                msg("Tracing generate of {model} failed in module {where}: {error}", model=repr(spec.name),
                    where=where, error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"),
                hint=msg("gpuplan traces with fake tensors: data-dependent Python control flow and custom ops without "
                         "a fake kernel cannot be traced.")) from e
    return traced, gemv, prefilled_ok


def _categories(rec: Recorder, traced: dict[str, _Step]) -> dict[int, Category]:
    """Cache tensors: kv_cache; input_ids/attention_mask: inputs; other storages of an iteration:
    temporaries when freed within it, else activations."""
    kv: set[int] = set()
    book: set[int] = set()
    for st in traced.values():
        for blocks in (st.slots_before, st.slots_after):
            for k, b in enumerate(blocks):
                if b is not None:
                    (book if k >= len(blocks) - 2 else kv).add(b)
    freed_at: dict[int, int] = {}
    for i, e in enumerate(rec.events):
        if e.kind is EventKind.FREE:
            freed_at.setdefault(e.block, i)
    categories: dict[int, Category] = dict.fromkeys(kv, Category.KV_CACHE)
    categories.update(dict.fromkeys(book, Category.INPUT))
    for st in traced.values():
        for e in rec.events[st.start:st.end]:
            if e.kind is EventKind.ALLOC and e.block not in categories:
                freed = freed_at.get(e.block, len(rec.events)) < st.end
                categories[e.block] = Category.TEMPORARY if freed else Category.ACTIVATION
    return categories


def _replay_growth(stream: _Stream, rec: Recorder, pre: _Step, first: _Step, last: _Step, steps: int,
                   op_shift: int) -> list[int | None]:
    """Append decode steps 2..steps-1 as cache growth; returns the stream block of each slot after them."""
    template = _growth_template(rec, first)

    def sizes(blocks: list[int | None]) -> list[int]:
        return [stream.sizes.get(b, 0) if b is not None else 0 for b in blocks]

    size_pre, size_first, size_last = sizes(pre.slots_after), sizes(first.slots_after), sizes(last.slots_after)
    grow = [max(0, f - p) for f, p in zip(size_first, size_pre, strict=True)]
    current = list(first.slots_after)
    for s in _middle_steps(1, steps):
        previous = list(current)
        for kind, slot, op_index, module in template:
            if kind == "alloc":
                size = _slot_size(size_first[slot], grow[slot], size_last[slot], s, steps)
                category = stream.cat.get(first.slots_after[slot] or -1, Category.KV_CACHE)
                current[slot] = stream.alloc(size, category, op_index + op_shift, module)
            elif previous[slot] is not None and previous[slot] != current[slot]:
                stream.free(previous[slot], op_index + op_shift, module)  # type: ignore[arg-type]
    return current


def _slot_size(first: int, grow: int, last: int, step: int, steps: int) -> int:
    """Bytes of a carried tensor after decode step ``step`` (1..steps), from its size after the first
    and the last step and its growth per token: linear growth capped at the last size (a sliding window
    stops growing); linear interpolation if the growth estimate falls short of the last size."""
    linear = first + grow * (step - 1)
    if first + grow * (steps - 1) >= last:
        return min(linear, last)
    return first + math.floor((last - first) * (step - 1) / (steps - 1))
