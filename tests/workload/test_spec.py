"""gpuplan.workload.spec: settings carried in ``Workload.extra`` read back through one property."""

from __future__ import annotations

from gpuplan.workload.spec import Workload


def test_zero_grad_setting_round_trip() -> None:
    w = Workload("mlp", extra=(("foreach", False), ("set_to_none", False)))
    assert w.zero_grad_set_to_none is False
    freed = w.with_zero_grad_set_to_none()
    assert freed.zero_grad_set_to_none is True and freed.extra == (("foreach", False),)
    assert Workload("mlp").zero_grad_set_to_none is True
