"""The module structure sharding engines work on: wrap units (transformer blocks) and their sizes.

FSDP2 shards per ``fully_shard`` unit: each transformer block, then the root (what is left: embeddings,
final norm, output head). Hugging Face models name their block classes in ``_no_split_modules``, which
accelerate's ``TRANSFORMER_BASED_WRAP`` also uses by default; for other models the block is the
repeated non-``torch.nn`` class that covers the most parameters (ResNet's ``Bottleneck``). DeepSpeed
ZeRO-3 gathers parameters per module (a module's own parameters), so its unit is the largest module's
own parameter count (``largest_layer_params`` in ``deepspeed.runtime.zero.stage3.model_to_params``).

The model is built under fake tensors, as the tracer does: nothing is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from gpuplan.errors import ModelBuildError
from gpuplan.i18n import msg
from gpuplan.trace.pool import one_fake_session
from gpuplan.workload import techniques
from gpuplan.workload.spec import Workload
from gpuplan.workload.zoo import resolve_model


@dataclass(frozen=True)
class ModelLayout:
    param_count: int  # unique parameter elements (tied weights once)
    block_class: str | None  # the wrap unit class ("LlamaDecoderLayer"); None: only the root is a unit
    block_count: int
    largest_block_params: int  # elements of the largest block (recursive)
    root_params: int  # elements outside every block (the root unit)
    largest_module_own_params: int  # DeepSpeed ZeRO-3's largest_layer_params
    hidden_size: int | None  # HF config hidden size (DeepSpeed bucket sizes); None when unknown
    block_param_counts: tuple[int, ...] = ()  # each block, in module order


def _unique_params(module: nn.Module) -> dict[int, int]:
    return {id(p): p.numel() for p in module.parameters()}


def _is_torch_builtin(cls: type) -> bool:
    return cls.__module__.startswith("torch.")


def _instances(model: nn.Module, names: set[str]) -> list[nn.Module]:
    """Modules whose class name is in ``names`` and that are not inside another such module."""
    out: list[nn.Module] = []
    inside: set[int] = set()
    for m in model.modules():
        if id(m) in inside:
            continue
        if type(m).__name__ in names and m is not model:
            out.append(m)
            inside.update(id(s) for s in m.modules())
    return out


def find_blocks(model: nn.Module) -> tuple[str | None, list[nn.Module]]:
    """The wrap-unit class name and its instances (outermost), or (None, [])."""
    no_split = getattr(model, "_no_split_modules", None)
    if no_split:
        present = {type(m).__name__ for m in model.modules()}
        names = [n for n in no_split if n in present]
        if names:
            return ",".join(names), _instances(model, set(names))
    total = sum(_unique_params(model).values()) or 1
    best: tuple[int, str] | None = None
    counts: dict[str, int] = {}
    for m in model.modules():
        if m is not model and not _is_torch_builtin(type(m)):
            counts[type(m).__name__] = counts.get(type(m).__name__, 0) + 1
    for name, count in counts.items():
        if count < 2:
            continue
        inst = _instances(model, {name})
        covered = sum(sum(_unique_params(i).values()) for i in inst)
        if len(inst) >= 2 and covered >= total // 4 and (best is None or covered > best[0]):
            best = (covered, name)
    if best is None:
        return None, []
    return best[1], _instances(model, {best[1]})


_CACHE: dict[str, ModelLayout] = {}


def _layout(w: Workload) -> ModelLayout:
    spec = resolve_model(w)
    with FakeTensorMode():
        try:
            model = spec.build()
        except ModelBuildError:
            raise
        except Exception as e:
            raise ModelBuildError(msg("Building {model} failed: {error}", model=repr(spec.name),
                                      error=f"{type(e).__name__}: {e}")) from e
        if w.lora_rank:
            techniques.apply_lora(model, w.lora_rank, w.lora_targets)
    params = _unique_params(model)
    total = sum(params.values())
    cls, blocks = find_blocks(model)
    block_ids: set[int] = set()
    sizes: list[int] = []
    for b in blocks:
        own = {k: v for k, v in _unique_params(b).items() if k not in block_ids}
        block_ids.update(own)
        sizes.append(sum(own.values()))
    root = sum(v for k, v in params.items() if k not in block_ids)
    largest_own = 0
    for m in model.modules():
        largest_own = max(largest_own, sum(p.numel() for p in m.parameters(recurse=False)))
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or getattr(config, "n_embd", None)
    return ModelLayout(
        param_count=total, block_class=cls, block_count=len(blocks), largest_block_params=max(sizes, default=0),
        root_params=root, largest_module_own_params=largest_own,
        hidden_size=int(hidden) if isinstance(hidden, int) else None, block_param_counts=tuple(sizes))


@one_fake_session
def model_layout(w: Workload) -> ModelLayout:
    """Wrap units and sizes of ``w``'s model (cached per model; batch and precision do not matter)."""
    key = repr((w.model, w.model_args, w.hf_config, w.lora_rank, w.lora_targets, w.extra))
    if key not in _CACHE:
        _CACHE[key] = _layout(w)
    return _CACHE[key]
