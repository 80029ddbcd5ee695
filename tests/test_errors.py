"""gpuplan.errors: errors keep their class, message, hint and exit code across processes (pickle)."""

from __future__ import annotations

import pickle

from gpuplan.errors import GpuplanError, TraceError, UnknownGPUError, UsageError
from gpuplan.i18n import msg


def test_error_with_custom_init_survives_pickle() -> None:
    e = UnknownGPUError("gtx 7600", ["GeForce GTX 760", "GeForce RTX 4060"])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is UnknownGPUError
    assert str(back) == str(e)
    assert back.exit_code == 2


def test_error_message_and_hint_survive_pickle() -> None:
    e = TraceError(msg("op {op} failed", op="aten.foo"), hint="try --mode infer")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is TraceError and isinstance(back, GpuplanError)
    assert back.message == e.message and back.hint == "try --mode infer"
    assert str(back) == str(e)


def test_usage_error_exit_code_survives_pickle() -> None:
    assert pickle.loads(pickle.dumps(UsageError("bad"))).exit_code == 2
