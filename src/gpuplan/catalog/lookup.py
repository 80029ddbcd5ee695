"""Forgiving GPU name lookup: "gtx760", "GeForce GTX 760", "760", "rtx 3060 12gb", "a100 80g", "h100 sxm".

Rules, in order:

1. **Exact key.** The query, lower-cased with brand words (NVIDIA, GeForce, Tesla, AMD, Radeon,
   Instinct, Intel, Apple) and punctuation removed, equals a key of one GPU: its name, its name
   without the parenthesised part ("Tesla K80 (per GPU)" -> "k80"), or one of its aliases.
2. **Token subset.** Every token of the query (split at spaces and at letter/digit boundaries,
   "80g" -> "80 gb") is a token of exactly one GPU name.
3. Several GPUs match -> :class:`UnknownGPUError` with ``ambiguous=True`` and the candidates;
   nothing matches -> :class:`UnknownGPUError` with the closest names (exit code 2 in the CLI).

A path to a ``.yaml``/``.yml``/``.json`` file (or an inline ``key=value,...`` spec) is read as a
custom GPU (see :mod:`gpuplan.catalog.spec`).
"""

from __future__ import annotations

import difflib
import re
from functools import cache

from gpuplan.catalog.gpus import load_catalog
from gpuplan.catalog.types import GPU
from gpuplan.errors import UnknownGPUError

_BRANDS = ("nvidia", "geforce", "tesla", "amd", "radeon", "instinct", "intel", "apple")
_SYNONYMS = {"mobile": "laptop", "gib": "gb", "g": "gb"}
_PAREN = re.compile(r"\([^)]*\)")


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case tokens split at non-alphanumerics and letter/digit boundaries ("sxm5" -> sxm, 5)."""
    parts = re.findall(r"[a-z]+|\d+", text.lower())
    return tuple(_SYNONYMS.get(p, p) for p in parts)


def _strip_brands(toks: tuple[str, ...]) -> tuple[str, ...]:
    kept = tuple(t for t in toks if t not in _BRANDS)
    return kept or toks


def compact(text: str) -> str:
    """The exact-match key of a name or query: tokens without brand words, joined."""
    return "".join(_strip_brands(tokens(text)))


def _keys(gpu: GPU) -> set[str]:
    names = [gpu.name, _PAREN.sub(" ", gpu.name), *gpu.aliases]
    keys = {compact(n) for n in names}
    keys |= {"".join(tokens(n)) for n in names}
    return keys


@cache
def _index() -> dict[str, tuple[GPU, ...]]:
    index: dict[str, list[GPU]] = {}
    for gpu in load_catalog():
        for key in _keys(gpu):
            index.setdefault(key, []).append(gpu)
    return {k: tuple(v) for k, v in index.items()}


def _token_matches(query_tokens: tuple[str, ...], catalog: tuple[GPU, ...]) -> list[GPU]:
    wanted = set(query_tokens)
    out = []
    for gpu in catalog:
        have = set(tokens(gpu.name))
        for alias in gpu.aliases:
            have |= set(tokens(alias))
        if wanted <= have:
            out.append(gpu)
    return out


def closest_names(query: str, n: int = 5) -> list[str]:
    """Catalog names most similar to ``query`` (for "did you mean" hints)."""
    key = compact(query)
    scored = []
    for gpu in load_catalog():
        best = max(difflib.SequenceMatcher(None, key, k).ratio() for k in _keys(gpu))
        scored.append((best, gpu.name))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [name for score, name in scored[:n] if score >= 0.4]


def _is_spec(query: str) -> bool:
    q = query.strip().lower()
    return q.endswith((".yaml", ".yml", ".json")) or ("=" in q)


def get_gpu(query: str) -> GPU:
    """Find one GPU by a forgiving name, or read a custom spec file / inline spec.

    Raises :class:`~gpuplan.errors.UnknownGPUError` (``ambiguous=True`` with the candidates when
    several GPUs match; otherwise with the closest names).
    """
    if _is_spec(query):
        from gpuplan.catalog.spec import parse_gpu_spec

        return parse_gpu_spec(query)
    key = compact(query)
    if not key:
        raise UnknownGPUError(query, [])
    hits = _index().get(key)
    if hits is None:
        hits = _index().get("".join(tokens(query)))
    if hits and len(hits) == 1:
        return hits[0]
    if hits:
        raise UnknownGPUError(query, [g.name for g in hits], ambiguous=True)
    matches = _token_matches(_strip_brands(tokens(query)), load_catalog())
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownGPUError(query, [g.name for g in matches], ambiguous=True)
    raise UnknownGPUError(query, closest_names(query))


def resolve_gpus(spec: str) -> list[GPU]:
    """``"a,b,c"`` -> the GPUs in that order; ``"all"`` -> the whole catalog.

    Spec files (``.yaml``/``.json``) may appear in the list. Unknown or ambiguous names raise
    :class:`~gpuplan.errors.UnknownGPUError`.
    """
    if spec.strip().lower() == "all":
        return list(load_catalog())
    if "=" in spec:  # one inline custom spec: "name=My card,memory_gib=24,..."
        return [get_gpu(spec)]
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise UnknownGPUError(spec, [])
    return [get_gpu(item) for item in items]
