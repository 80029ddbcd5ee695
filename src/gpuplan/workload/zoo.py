"""Resolve a model name to a builder, default inputs and a loss.

Names: torchvision models (``resnet50``), timm (``timm:convnext_tiny``), shipped Hugging Face
configs by hub id (``meta-llama/Llama-2-7b-hf``, ``bert-base-uncased``), a config file
(``--hf-config path``), the seed models (``lenet5``, ``cifar_cnn``, ``lstm``, ``mlp``), and user
code (``path/to/file.py:factory`` or ``package.module:factory``). Builders are called inside the
tracer's fake-tensor context, so no real memory is allocated whatever the model size.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from torch import nn

from gpuplan.errors import ModelBuildError
from gpuplan.i18n import msg
from gpuplan.workload import seeds
from gpuplan.workload.spec import InputSpec, Workload

HF_CONFIG_DIR = Path(__file__).parent / "hf_configs"


@dataclass
class ModelSpec:
    """How to build a model and feed it."""

    name: str
    family: str  # "mlp" | "cnn" | "rnn" | "transformer" | "llm"
    build: Callable[[], nn.Module]
    inputs: tuple[InputSpec, ...]
    loss: str  # "cross-entropy" | "model" | "mean" | "mse"
    num_classes: int | None = None
    hf: bool = False
    hf_task: str | None = None  # "causal-lm" | "masked-lm" | "seq2seq" | "image-classification"
    vocab_size: int | None = None
    is_decoder_lm: bool = False
    notes: list[str] = field(default_factory=list)


_SEEDS: dict[str, tuple[str, Callable[..., nn.Module], tuple[InputSpec, ...], int]] = {
    "lenet5": ("cnn", seeds.LeNet5, (InputSpec((1, 28, 28)),), 10),
    "cifar_cnn": ("cnn", seeds.CifarCNN, (InputSpec((3, 32, 32)),), 10),
    "lstm": ("rnn", seeds.LSTMClassifier, (InputSpec((256,), "int64"),), 2),
    "mlp": ("mlp", seeds.MLP, (InputSpec((1, 28, 28)),), 10),
}
_SEED_ALIASES = {"lenet": "lenet5", "lenet-5": "lenet5", "cifar-cnn": "cifar_cnn", "cifar10_cnn": "cifar_cnn",
                 "lstm_classifier": "lstm", "lstm128": "lstm"}


@cache
def shipped_hf_configs() -> dict[str, Path]:
    """Hub id -> shipped config.json (file names are hub ids with '/' replaced by '--')."""
    return {p.stem.replace("--", "/"): p for p in sorted(HF_CONFIG_DIR.glob("*.json"))}


def _torchvision_names() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def known_model_names() -> list[str]:
    return sorted(list(_SEEDS) + list(shipped_hf_configs()) + _torchvision_names())


def _parse_args(model_args: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return dict(model_args)


def resolve_model(w: Workload) -> ModelSpec:
    """The ModelSpec for a workload's model name (no model is built here)."""
    name = w.model.strip()
    kwargs = _parse_args(w.model_args)
    if w.hf_config:
        return _hf_spec(Path(w.hf_config), w, label=name or Path(w.hf_config).stem)
    lowered = _SEED_ALIASES.get(name.lower(), name.lower())
    if lowered in _SEEDS:
        family, cls, inputs, classes = _SEEDS[lowered]
        return ModelSpec(lowered, family, lambda: cls(**kwargs), inputs, "cross-entropy",
                         num_classes=kwargs.get("num_classes", classes))
    hub = {k.lower(): v for k, v in shipped_hf_configs().items()}
    if lowered in hub or lowered.replace("/", "--") in {p.stem.lower() for p in hub.values()}:
        path = hub.get(lowered) or next(p for p in hub.values() if p.stem.lower() == lowered.replace("/", "--"))
        return _hf_spec(path, w, label=name)
    if lowered.startswith("timm:"):
        return _timm_spec(name.split(":", 1)[1], kwargs)
    if ":" in name and not name.startswith("timm:"):
        return _user_spec(name, kwargs, w)
    tv = _torchvision_names()
    if lowered in tv:
        return _torchvision_spec(lowered, kwargs)
    close = difflib.get_close_matches(lowered, known_model_names(), n=5, cutoff=0.5)
    use = msg("Use a torchvision name (resnet50), timm:NAME, a shipped Hugging Face id (run `gpuplan models`), "
              "--hf-config path/config.json, or your own code as path/to/file.py:factory.")
    raise ModelBuildError(
        msg("Unknown model {name}.", name=repr(name)),
        hint=msg("Closest names: {names}.\n{rest}", names=", ".join(close), rest=use) if close else use,
    )


def _torchvision_spec(name: str, kwargs: dict[str, Any]) -> ModelSpec:
    import torchvision

    size = 299 if name.startswith("inception") else 224
    family = "transformer" if name.startswith(("vit_", "swin", "maxvit")) else "cnn"
    if name.startswith(("raft", "fcn", "deeplab", "lraspp", "fasterrcnn", "maskrcnn", "retinanet", "ssd",
                        "fcos", "keypointrcnn", "r3d", "mc3", "r2plus1d", "s3d", "mvit", "swin3d")):
        raise ModelBuildError(
            msg("torchvision model {name} is a detection/segmentation/video model whose default inputs and loss "
                "gpuplan does not know.", name=repr(name)),
            hint=msg("Wrap it in your own factory (file.py:factory) and give --input and --loss mean."),
        )
    classes = int(kwargs.get("num_classes", 1000))

    def build() -> nn.Module:
        extra = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
        return torchvision.models.get_model(name, weights=None, **{**extra, **kwargs})

    return ModelSpec(name, family, build, (InputSpec((3, size, size)),), "cross-entropy", num_classes=classes)


def _timm_spec(name: str, kwargs: dict[str, Any]) -> ModelSpec:
    try:
        import timm
    except ImportError as e:  # pragma: no cover - timm is a dependency
        raise ModelBuildError(msg("{package} is not installed.", package="timm"), hint="pip install timm") from e
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        raise ModelBuildError(msg("Unknown timm model {name}.", name=repr(name)),
                              hint=msg("Closest names: {names}.", names=", ".join(close)) if close else None)
    cfg = timm.get_pretrained_cfg(name)
    size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else (3, 224, 224)
    family = "transformer" if any(s in name for s in ("vit", "deit", "beit", "swin", "eva")) else "cnn"
    return ModelSpec(f"timm:{name}", family, lambda: timm.create_model(name, pretrained=False, **kwargs),
                     (InputSpec(tuple(int(s) for s in size)),), "cross-entropy",
                     num_classes=int(kwargs.get("num_classes", 1000)))


_CAUSAL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "gemma", "gemma2", "phi", "phi3", "gpt2", "gpt_neox",
                 "opt", "deepseek_v2", "falcon", "gptj", "bloom")


def _hf_spec(path: Path, w: Workload, label: str) -> ModelSpec:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelBuildError(msg("Cannot read Hugging Face config {path}: {error}", path=repr(str(path)),
                                  error=str(e))) from e
    try:
        import transformers
    except ImportError as e:  # pragma: no cover
        raise ModelBuildError(msg("{package} is not installed.", package="transformers"),
                              hint="pip install transformers") from e
    model_type = raw.get("model_type")
    archs = raw.get("architectures") or []
    if not model_type:
        raise ModelBuildError(msg("{path}: config has no 'model_type'.", path=str(path)))
    extra = dict(w.extra)
    arch = extra.get("hf_architecture") or (archs[0] if archs else None)
    attn_impl = extra.get("attn_implementation", "sdpa")
    cls = getattr(transformers, arch, None) if arch else None
    if cls is None:
        raise ModelBuildError(
            f"{path}: transformers {transformers.__version__} has no model class {arch!r} for model_type "
            f"{model_type!r}.", hint="Upgrade transformers, or give a config whose 'architectures' it knows.")
    if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
        task = "causal-lm"
    elif arch.endswith("ForMaskedLM"):
        task = "masked-lm"
    elif arch.endswith("ForConditionalGeneration") and model_type in ("t5", "bart", "mt5"):
        task = "seq2seq"
    elif arch.endswith("ForImageClassification"):
        task = "image-classification"
    elif arch.endswith("ForSequenceClassification"):
        task = "seq-classification"
    elif arch.endswith("ForQuestionAnswering"):
        task = "question-answering"  # extractive QA (SQuAD): start/end logits, the model's own loss
    else:
        task = "other"
    vocab = raw.get("vocab_size")
    seq = w.seq_len or min(512, int(raw.get("max_position_embeddings") or raw.get("n_positions") or 512))
    if task == "image-classification":
        size = int(raw.get("image_size", 224))
        inputs: tuple[InputSpec, ...] = (InputSpec((3, size, size), "float32", "pixel_values"),)
    else:
        inputs = (InputSpec((seq,), "int64", "input_ids"),)

    def build() -> nn.Module:
        cfg_dict = {k: v for k, v in raw.items() if k not in ("torch_dtype", "dtype", "_name_or_path", "model_type")}
        config = transformers.AutoConfig.for_model(model_type, **cfg_dict)
        config.use_cache = False
        try:
            model = cls._from_config(config, attn_implementation=attn_impl)
        except (ValueError, TypeError, ImportError):
            # architectures without an SDPA path (e.g. Gemma-2's soft-capped attention) run eager
            # attention in transformers, as they would for the user
            model = cls._from_config(config, attn_implementation="eager")
        return model

    family = "llm" if task == "causal-lm" else "transformer"
    return ModelSpec(label, family, build, inputs, "model", hf=True, hf_task=task, vocab_size=vocab,
                     is_decoder_lm=task == "causal-lm", num_classes=None)


def _user_spec(target: str, kwargs: dict[str, Any], w: Workload) -> ModelSpec:
    mod_part, _, attr = target.rpartition(":")
    if not attr:
        raise ModelBuildError(msg("{target}: expected path/to/file.py:factory or package.module:factory.",
                                  target=repr(target)))
    if mod_part.endswith(".py") or "/" in mod_part:
        path = Path(mod_part)
        if not path.is_file():
            raise ModelBuildError(msg("{target}: file {file} not found.", target=repr(target), file=repr(mod_part)))
        modname = f"gpuplan_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise ModelBuildError(f"{target!r}: cannot import {mod_part!r}.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise ModelBuildError(f"{target!r}: importing {mod_part} failed: {type(e).__name__}: {e}") from e
    else:
        try:
            module = importlib.import_module(mod_part)
        except Exception as e:
            raise ModelBuildError(f"{target!r}: cannot import module {mod_part!r}: {type(e).__name__}: {e}") from e
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3)
        raise ModelBuildError(msg("{target}: {module} has no callable {name}.", target=repr(target), module=mod_part,
                                  name=repr(attr)),
                              hint=msg("Did you mean: {names}?", names=", ".join(close)) if close else None)
    if not w.inputs:
        raise ModelBuildError(msg("{target}: gpuplan cannot guess the inputs of your model.", target=repr(target)),
                              hint=msg("Give each input's per-sample shape, e.g. --input 3x224x224 or --input "
                                       "128:int64."))

    def build() -> nn.Module:
        try:
            m = factory(**kwargs)
        except TypeError as e:
            raise ModelBuildError(f"{target!r}: calling {attr}(**{kwargs}) failed: {e}") from e
        if not isinstance(m, nn.Module):
            raise ModelBuildError(f"{target!r}: {attr}() returned {type(m).__name__}, not a torch.nn.Module.")
        return m

    return ModelSpec(target, "custom", build, w.inputs, w.loss or "mean")
