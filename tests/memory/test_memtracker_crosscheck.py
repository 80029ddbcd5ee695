"""gpuplan's live-tensor accounting equals PyTorch's own MemTracker on the same step (scripts/memtracker_crosscheck.py).

An independent implementation of the same bookkeeping: if a storage were missed, counted twice or freed
at the wrong time, the two peaks would differ. Small models per family here; the script's table in
docs/accuracy.md covers ResNet-50, BERT-base, GPT-2 and Qwen2.5-0.5B."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gpuplan.workload.spec import OptimizerKind, Workload

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "memtracker_crosscheck.py"


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("memtracker_crosscheck", _SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("w", [
    Workload("mlp", batch=32),
    Workload("lenet5", batch=16, optimizer=OptimizerKind.SGD_MOMENTUM),
    Workload("cifar_cnn", batch=8),
    Workload("gpt2", batch=1, seq_len=32, extra=(("attn_implementation", "eager"),)),
], ids=["mlp", "lenet5-sgd", "cifar_cnn", "gpt2-eager"])
def test_live_peak_equals_memtracker(w: Workload) -> None:
    mod = _module()
    ours, theirs = mod.gpuplan_live_peak(w), mod.memtracker_live_peak(w)
    assert theirs > 0
    # MemTracker also counts Adam's per-parameter step counters, which PyTorch keeps on the host (4 B each
    # with capturable=False); gpuplan counts device memory only
    host_steps = 0 if w.optimizer is OptimizerKind.SGD_MOMENTUM else 4 * mod.n_trainable_tensors(w)
    assert theirs - ours == host_steps, (ours, theirs)
