"""What the model zoo offers, as records (``gpuplan models`` renders them)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gpuplan.workload import zoo


@dataclass(frozen=True)
class ZooEntry:
    name: str  # what to pass as MODEL
    source: str  # "seed" | "hf-config" | "torchvision"
    family: str  # "cnn" | "rnn" | "mlp" | "transformer" | "llm" | "vision"
    detail: str  # HF architecture / model_type, or the seed's input


def zoo_entries(source: str | None = None) -> list[ZooEntry]:
    """Seed models, shipped Hugging Face configs (by hub id) and torchvision classifiers."""
    out: list[ZooEntry] = []
    for name, (family, _factory, inputs, _classes) in zoo._SEEDS.items():
        shape = "x".join(str(d) for d in inputs[0].shape) + ("" if inputs[0].dtype == "float32" else f":{inputs[0].dtype}")
        out.append(ZooEntry(name, "seed", family, shape))
    for hub_id, path in zoo.shipped_hf_configs().items():
        raw = json.loads(path.read_text())
        arch = (raw.get("architectures") or [""])[0]
        family = "llm" if arch.endswith(("ForCausalLM", "LMHeadModel")) else "transformer"
        out.append(ZooEntry(hub_id, "hf-config", family, f"{raw.get('model_type', '?')} {arch}".strip()))
    for name in zoo._torchvision_names():
        out.append(ZooEntry(name, "torchvision", "vision", ""))
    return [e for e in out if source is None or e.source == source]
