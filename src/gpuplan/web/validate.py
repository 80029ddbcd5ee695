"""Validation of everything a request to ``gpuplan serve`` may carry.

The server never imports or runs code named in a request: a model is a name from the zoo allow-list
(seed examples, shipped Hugging Face configs, torchvision classification models) or an uploaded
Hugging Face ``config.json`` whose ``model_type`` and model class transformers ships (an ``auto_map``
to remote code is dropped, never followed), with size bounds so nobody can ask for a 10^12-parameter trace. A GPU is a catalog
name, never a spec file path. Every field is checked; unknown fields are refused.

    >>> req = parse_fit_request({"model": "lenet5", "gpu": "GTX 760", "batch": 64})  # doctest: +SKIP
    >>> req.workload(None).model                                                       # doctest: +SKIP
    'lenet5'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from gpuplan.errors import UsageError
from gpuplan.i18n import SUPPORTED, normalize, tr
from gpuplan.memory.batch import MAX_BATCH
from gpuplan.workload.spec import Mode, OptimizerKind, Precision, Workload

MAX_BODY_BYTES = 512 * 1024  # a request body (the config travels inside it)
MAX_CONFIG_BYTES = 256 * 1024  # an uploaded config.json
MAX_CONFIG_DEPTH = 8
MAX_SEQ_LEN = 32768
MAX_PARAMS = 5e11  # estimated parameters of an uploaded config (LLaMA-3.1-405B has 4.1e11)
MODES = (Mode.TRAIN, Mode.INFER)
FIELDS = frozenset({"model", "config", "gpu", "mode", "precision", "optimizer", "batch", "seq_len", "checkpointing",
                    "advise", "lang"})

# upper bounds of the size fields of a transformers config (any of the aliases models use)
CONFIG_BOUNDS: dict[str, int] = {
    "hidden_size": 32768, "d_model": 32768, "n_embd": 32768, "dim": 32768,
    "num_hidden_layers": 200, "n_layer": 200, "num_layers": 200, "n_layers": 200, "num_decoder_layers": 200,
    "encoder_layers": 200, "decoder_layers": 200,
    "intermediate_size": 262144, "d_ff": 262144, "n_inner": 262144, "ffn_dim": 262144, "moe_intermediate_size": 65536,
    "num_attention_heads": 512, "n_head": 512, "num_heads": 512, "num_key_value_heads": 512,
    "vocab_size": 1 << 20, "max_position_embeddings": 1 << 20, "n_positions": 1 << 20,
    "num_local_experts": 512, "n_routed_experts": 512, "num_experts": 512, "num_experts_per_tok": 64,
    "image_size": 4096, "patch_size": 1024, "num_channels": 64,
}


@dataclass(frozen=True)
class FitRequest:
    """A validated request: a zoo model *or* an uploaded config, one catalog GPU, and the step."""

    model: str | None
    config_text: str | None  # canonical JSON of the uploaded config
    config_label: str
    gpu: str  # exact catalog name
    mode: Mode
    precision: Precision
    optimizer: OptimizerKind
    batch: int
    auto_batch: bool
    seq_len: int | None
    checkpointing: bool
    lang: str
    advise: bool = True  # include the advisor's plans (slower: it traces each configuration it tries)

    def workload(self, config_path: str | None) -> Workload:
        """The Workload; ``config_path`` is where the worker wrote ``config_text``."""
        return Workload(model=self.model or self.config_label, batch=self.batch, mode=self.mode,
                        precision=self.precision, optimizer=self.optimizer, seq_len=self.seq_len,
                        hf_config=config_path, checkpointing=self.checkpointing)


def _fail(msg: str, lang: str, **kw: Any) -> UsageError:
    return UsageError(tr(msg, lang=lang, **kw))


@cache
def allowed_models() -> dict[str, list[str]]:
    """The zoo allow-list by group: seed examples, shipped Hugging Face configs, torchvision classifiers."""
    import torchvision

    from gpuplan.workload.zoo import _SEEDS, shipped_hf_configs

    return {
        "seed": sorted(_SEEDS),
        "huggingface": sorted(shipped_hf_configs()),
        "torchvision": sorted(torchvision.models.list_models(module=torchvision.models)),
    }


@cache
def _allowed_lookup() -> dict[str, str]:
    return {name.lower(): name for names in allowed_models().values() for name in names}


@cache
def _known_architectures() -> frozenset[str]:
    """Model class names transformers maps from a config (any task)."""
    import transformers.models.auto.modeling_auto as auto

    names: set[str] = set()
    for attr in dir(auto):
        if attr.endswith("_MAPPING_NAMES"):
            for v in getattr(auto, attr).values():
                names.update([v] if isinstance(v, str) else v)
    return frozenset(names)


def _known_model_types() -> frozenset[str]:
    from transformers import CONFIG_MAPPING

    return frozenset(CONFIG_MAPPING.keys())


def check_model_name(name: Any, lang: str = "en") -> str:
    """The canonical zoo name, or UsageError (code paths and unknown names are refused)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise _fail("model: expected a model name from the zoo (see /api/models).", lang)
    key = name.strip().lower()
    if key in _allowed_lookup():
        return _allowed_lookup()[key]
    if ":" in key or key.endswith(".py") or "\\" in key or key.startswith((".", "/")):
        raise _fail("model {name!r}: the server runs only models from the zoo (see /api/models) or an uploaded "
                    "config.json; code such as file.py:factory or package.module:factory is never imported.",
                    lang, name=name[:120])
    raise _fail("model {name!r} is not in the zoo; pick one from /api/models or upload a config.json.", lang,
                name=name[:120])


def _depth(obj: Any, level: int = 0) -> int:
    if isinstance(obj, dict):
        return max([level + 1] + [_depth(v, level + 1) for v in obj.values()])
    if isinstance(obj, list):
        return max([level + 1] + [_depth(v, level + 1) for v in obj])
    return level


def _walk_numbers(obj: Any, path: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _walk_numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _walk_numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.append((path, float(obj)))
    return out


def _first(cfg: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def estimate_params(cfg: dict[str, Any]) -> float:
    """Rough parameter count of a transformer config: layers x (attention + MLP x experts) + embeddings."""
    h = _first(cfg, "hidden_size", "d_model", "n_embd", "dim") or 0.0
    layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers") or 0.0
    layers += _first(cfg, "num_decoder_layers", "decoder_layers") or 0.0
    inter = _first(cfg, "intermediate_size", "d_ff", "n_inner", "ffn_dim") or 4 * h
    experts = _first(cfg, "num_local_experts", "n_routed_experts", "num_experts") or 1.0
    vocab = _first(cfg, "vocab_size") or 0.0
    return layers * (4 * h * h + 3 * h * inter * experts) + 2 * vocab * h


def check_config(text: Any, lang: str = "en") -> tuple[str, str]:
    """Validate an uploaded config.json (text); return (canonical JSON text, a label for the model)."""
    if not isinstance(text, str):
        raise _fail("config: expected the text of a config.json file.", lang)
    size = len(text.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise _fail("config.json is {kib} KiB; the limit is {lim} KiB.", lang, kib=size // 1024,
                    lim=MAX_CONFIG_BYTES // 1024)

    def bad_constant(c: str) -> Any:
        raise ValueError(f"{c} is not allowed")

    try:
        cfg = json.loads(text, parse_constant=bad_constant)
    except (ValueError, RecursionError) as e:
        raise _fail("config.json is not valid JSON: {err}", lang, err=str(e)[:200]) from None
    if not isinstance(cfg, dict):
        raise _fail("config.json must be a JSON object (a Hugging Face model config).", lang)
    if _depth(cfg) > MAX_CONFIG_DEPTH:
        raise _fail("config.json is nested more than {n} levels deep.", lang, n=MAX_CONFIG_DEPTH)
    # 'auto_map' points at custom model code on the Hub: never fetched nor run; the model is built from the
    # transformers class named in 'architectures' (many real configs carry both)
    cfg.pop("auto_map", None)
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise _fail("config.json has no 'model_type'.", lang)
    if model_type not in _known_model_types():
        raise _fail("config.json: model_type {t!r} is not one that transformers knows.", lang, t=model_type[:60])
    archs = cfg.get("architectures")
    if not (isinstance(archs, list) and len(archs) >= 1 and all(isinstance(a, str) for a in archs)):
        raise _fail("config.json must name its model class in 'architectures' (e.g. [\"LlamaForCausalLM\"]).", lang)
    if archs[0] not in _known_architectures():
        raise _fail("config.json: {a!r} is not a model class of transformers.", lang, a=archs[0][:80])
    for path, v in _walk_numbers(cfg):
        if not math.isfinite(v) or abs(v) > 1e12:
            raise _fail("config.json: {path} = {v} is out of range.", lang, path=path[:80], v=v)
    for key, bound in CONFIG_BOUNDS.items():
        v = cfg.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > bound:
            raise _fail("config.json: {key} = {v!r} must be an integer from 0 to {bound}.", lang, key=key,
                        v=str(v)[:40], bound=bound)
    params = estimate_params(cfg)
    if params > MAX_PARAMS:
        raise _fail("config.json describes about {p:.2g} parameters; the server traces models up to {m:.0g}.",
                    lang, p=params, m=MAX_PARAMS)
    label = f"config.json ({model_type})"
    return json.dumps(cfg, sort_keys=True), label


def check_gpu(name: Any, lang: str = "en") -> str:
    """A catalog GPU's exact name from a catalog name or a forgiving query (never a spec file)."""
    from gpuplan.catalog import get_gpu, load_catalog
    from gpuplan.errors import UnknownGPUError

    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise _fail("gpu: expected a GPU name from the catalog (see /api/gpus?q=...).", lang)
    q = name.strip()
    exact = {g.name.lower(): g.name for g in load_catalog()}
    if q.lower() in exact:
        return exact[q.lower()]
    if any(c in q for c in "=/\\") or q.lower().endswith((".json", ".yaml", ".yml")):
        raise _fail("gpu {name!r}: only catalog names are accepted here (no spec files).", lang, name=q)
    try:
        return get_gpu(q).name
    except UnknownGPUError as e:
        raise UsageError(str(e)) from None


def _enum(value: Any, enum: Any, allowed: tuple[Any, ...], field: str, lang: str) -> Any:
    names = [a.value for a in allowed]
    if not isinstance(value, str) or value not in names:
        raise _fail("{field}: {v!r} is not one of {allowed}.", lang, field=field, v=str(value)[:40],
                    allowed=", ".join(names))
    return enum(value)


def _int(value: Any, field: str, lo: int, hi: int, lang: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail("{field}: expected an integer from {lo} to {hi}.", lang, field=field, lo=lo, hi=hi)
    return value


def parse_fit_request(body: Any) -> FitRequest:
    """Validate the JSON body of ``POST /api/fit``; UsageError names the first bad field."""
    lang = "en"
    if isinstance(body, dict) and isinstance(body.get("lang"), str):
        try:
            lang = normalize(body["lang"])
        except ValueError:
            raise UsageError(f"lang: {body['lang'][:20]!r} is not one of {', '.join(SUPPORTED)}.") from None
    if not isinstance(body, dict):
        raise _fail("The request body must be a JSON object.", lang)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _fail("Unknown field(s): {names}. Allowed: {allowed}.", lang, names=", ".join(unknown)[:200],
                    allowed=", ".join(sorted(FIELDS)))
    has_model = body.get("model") not in (None, "")
    has_config = body.get("config") not in (None, "")
    if has_model == has_config:
        raise _fail("Give exactly one of 'model' (a zoo name) and 'config' (an uploaded config.json).", lang)
    model = check_model_name(body["model"], lang) if has_model else None
    config_text, label = check_config(body["config"], lang) if has_config else (None, "")
    gpu = check_gpu(body.get("gpu"), lang)
    mode = _enum(body.get("mode", "train"), Mode, MODES, "mode", lang)
    precision = _enum(body.get("precision", "fp32"), Precision, tuple(Precision), "precision", lang)
    optimizer = _enum(body.get("optimizer", "adamw"), OptimizerKind, tuple(OptimizerKind), "optimizer", lang)
    raw_batch = body.get("batch", 1)
    auto = isinstance(raw_batch, str) and raw_batch.strip().lower() == "auto"
    batch = 1 if auto else _int(raw_batch, "batch", 1, MAX_BATCH, lang)
    seq = body.get("seq_len")
    seq_len = None if seq in (None, "") else _int(seq, "seq_len", 1, MAX_SEQ_LEN, lang)
    ckpt = body.get("checkpointing", False)
    if not isinstance(ckpt, bool):
        raise _fail("checkpointing: expected true or false.", lang)
    want_advice = body.get("advise", True)
    if not isinstance(want_advice, bool):
        raise _fail("advise: expected true or false.", lang)
    if precision.is_weight_only_quant and mode is Mode.TRAIN:
        raise _fail("precision {p} trains only LoRA adapters, which this page does not set up; use it with mode "
                    "infer.", lang, p=precision.value)
    return FitRequest(model=model, config_text=config_text, config_label=label, gpu=gpu, mode=mode,
                      precision=precision, optimizer=optimizer, batch=batch, auto_batch=auto, seq_len=seq_len,
                      checkpointing=ckpt, lang=lang, advise=want_advice)
