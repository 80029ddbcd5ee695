"""Collective volumes and times against hand-computed values."""

from __future__ import annotations

import pytest

from gpuplan.plan.comm import Collective, bytes_sent_per_rank, seconds


@pytest.mark.parametrize(
    ("op", "n", "expected"),
    [
        (Collective.ALL_REDUCE, 8, 2 * 7 / 8 * 1000),  # ring: reduce-scatter + all-gather
        (Collective.ALL_REDUCE, 2, 1000),
        (Collective.REDUCE_SCATTER, 8, 7 / 8 * 1000),
        (Collective.ALL_GATHER, 4, 3 / 4 * 1000),
        (Collective.ALL_GATHER, 1, 0),  # nothing to send alone
        (Collective.HOST_TO_DEVICE, 8, 1000),  # a copy moves the whole buffer
    ],
)
def test_ring_volumes(op: Collective, n: int, expected: float) -> None:
    assert bytes_sent_per_rank(op, 1000, n) == pytest.approx(expected)


def test_seconds_at_link_rate() -> None:
    # 14 GB of bf16 gradients (7B parameters) all-reduced over 8 GPUs at 300 GB/s each way:
    # 2 * 7/8 * 14e9 / 300e9 = 0.08167 s
    assert seconds(Collective.ALL_REDUCE, 14e9, 8, 300.0) == pytest.approx(2 * 7 / 8 * 14e9 / 300e9)
    assert seconds(Collective.ALL_REDUCE, 14e9, 8, None) is None  # unknown link: N/A, never a guess
    assert seconds(Collective.ALL_REDUCE, 14e9, 1, None) == 0.0  # one GPU: no communication at all
