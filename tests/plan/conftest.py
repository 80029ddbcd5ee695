"""Shared fixtures of the plan tests: a tiny LLaMA (4 blocks, 5.3M parameters) traced once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuplan.plan.strategies import _default_trace_fn
from gpuplan.trace import KernelProfile
from gpuplan.workload.spec import Precision, Workload

TINY_LLAMA = str(Path(__file__).parent / "data" / "tiny-llama.json")


@pytest.fixture(scope="session")
def tiny_llama() -> Workload:
    return Workload(model="tiny-llama", hf_config=TINY_LLAMA, seq_len=64, batch=4, precision=Precision.AMP_BF16)


@pytest.fixture(scope="session")
def trace_fn():  # type: ignore[no-untyped-def]
    """One trace cache for the whole session (A100 kernels: flash attention)."""
    return _default_trace_fn(KernelProfile(attention="flash", rnn="cudnn"))
