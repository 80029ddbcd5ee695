"""The parameter layout of a model (built under fake tensors, nothing allocated), for choosing what to
freeze and whether weight-only quantization has anything to act on."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from gpuplan.i18n import msg
from gpuplan.trace.pool import one_fake_session
from gpuplan.workload.spec import Workload
from gpuplan.workload.techniques import _is_head, _matches
from gpuplan.workload.zoo import resolve_model


@dataclass(frozen=True)
class ModelLayout:
    params: tuple[tuple[str, int], ...]  # (name, numel) in registration order, shared parameters once
    linear_params: int  # weights held by nn.Linear layers other than output heads (what quantization acts on)
    blocks: tuple[str, ...]  # repeated blocks in order (children of block containers), e.g. "bert.encoder.layer.3"
    total_params: int

    @property
    def linear_share(self) -> float:
        return self.linear_params / self.total_params if self.total_params else 0.0


def _block_containers(model: nn.Module) -> list[str]:
    """Children of Sequential/ModuleList containers whose children all have sub-modules (the repeated
    blocks activation checkpointing also uses), outermost containers only, in registration order."""
    out: list[str] = []
    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.Sequential, nn.ModuleList)):
            continue
        kids = list(mod.named_children())
        if len(kids) < 2 or not all(len(list(k.children())) > 0 for _, k in kids):
            continue
        prefix = f"{name}." if name else ""
        if any(prefix.startswith(b + ".") for b in out):
            continue  # nested inside an outer block
        out.extend(prefix + k for k, _ in kids)
    return out


@one_fake_session
def model_layout(w: Workload) -> ModelLayout | str:
    """Build ``w``'s model on fake tensors and describe its parameters and blocks (or why it failed)."""
    try:
        spec = resolve_model(w)
        with FakeTensorMode():
            model = spec.build()
    except Exception as e:  # the model builder is user/library code: report, never crash the advice
        return msg("building the model on fake tensors failed ({error})", error=type(e).__name__)
    seen: set[int] = set()
    params: list[tuple[str, int]] = []
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        params.append((name, p.numel()))
    linear = 0
    for name, mod in model.named_modules():
        is_linear = isinstance(mod, nn.Linear) or type(mod).__name__ == "Conv1D"
        if is_linear and not _is_head(name):
            w_ = getattr(mod, "weight", None)
            linear += int(w_.numel()) if w_ is not None else 0
    return ModelLayout(tuple(params), linear, tuple(_block_containers(model)), sum(n for _, n in params))


@dataclass(frozen=True)
class FreezeChoice:
    globs: tuple[str, ...]
    frozen_params: int
    total_params: int
    blocks_frozen: int
    blocks_total: int
    description: str  # e.g. "embeddings/stem and blocks bert.encoder.layer.0-5"


def _globs_for(frozen: list[str], all_names: list[str]) -> tuple[str, ...]:
    """Module-prefix globs ("a.b.") covering exactly ``frozen``: the shortest prefixes none of whose
    parameters stay trainable."""
    frozen_set = set(frozen)
    globs: list[str] = []
    covered: set[str] = set()
    for name in frozen:
        if name in covered:
            continue
        parts = name.split(".")
        chosen = name
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth]) + "."
            members = [n for n in all_names if n.startswith(prefix)]
            if members and all(m in frozen_set for m in members):
                chosen = prefix
                break
        globs.append(chosen)
        covered.update(n for n in all_names if (n.startswith(chosen) if chosen.endswith(".") else n == chosen))
    return tuple(globs)


def _exact(globs: tuple[str, ...], frozen: list[str], all_names: list[str]) -> bool:
    """The tracer's --freeze matching (``techniques._matches``) selects exactly ``frozen``."""
    return {n for n in all_names if _matches(n, globs)} == set(frozen)


def freeze_lower_half(layout: ModelLayout) -> FreezeChoice | str:
    """Freeze the embeddings/stem and the first half of the repeated blocks; or why it cannot."""
    if len(layout.blocks) < 2:
        return msg("the model has no repeated blocks to freeze half of")
    names = [n for n, _ in layout.params]
    upper = layout.blocks[len(layout.blocks) // 2]
    cut = next((i for i, n in enumerate(names) if n.startswith(upper + ".")), None)
    if cut is None or cut == 0:
        return msg("could not locate the blocks among the parameters")
    frozen = names[:cut]
    globs = _globs_for(frozen, names)
    if not _exact(globs, frozen, names):
        return msg("the frozen modules cannot be selected by --freeze globs (a module name also occurs inside the "
                   "trainable blocks, and globs match anywhere in a name)")
    n_frozen = sum(n for name, n in layout.params if name in set(frozen))
    half = len(layout.blocks) // 2
    first, last = layout.blocks[0], layout.blocks[half - 1]
    return FreezeChoice(globs, n_frozen, layout.total_params, half, len(layout.blocks),
                        msg("the stem/embeddings and blocks {first} … {last}", first=first, last=last))


def freeze_all_but_head(layout: ModelLayout) -> FreezeChoice | str:
    """Train only the output head (linear probing / feature extraction); or why it cannot."""
    names = [n for n, _ in layout.params]
    heads = [n for n in names if _is_head(n.rsplit(".", 1)[0])]
    if not heads:
        return msg("no output head (classifier / lm_head / fc) found")
    frozen = [n for n in names if n not in set(heads)]
    if not frozen:
        return msg("the model is only a head")
    globs = _globs_for(frozen, names)
    if not _exact(globs, frozen, names):
        return msg("the frozen modules cannot be selected by --freeze globs")
    n_frozen = sum(n for name, n in layout.params if name in set(frozen))
    head_mods = sorted({h.rsplit(".", 1)[0] for h in heads})
    return FreezeChoice(globs, n_frozen, layout.total_params, len(layout.blocks), len(layout.blocks),
                        msg("everything except {modules}", modules=", ".join(head_mods)))
