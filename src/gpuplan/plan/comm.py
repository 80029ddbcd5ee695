"""Collective communication: bytes each GPU sends, and seconds at a link's rate (ring algorithms).

Ring all-reduce of a tensor of S bytes over N ranks sends 2(N-1)/N x S bytes per rank (a reduce-scatter
then an all-gather); reduce-scatter and all-gather send (N-1)/N x S each (Patarasuk & Yuan,
"Bandwidth optimal all-reduce algorithms for clusters of workstations", JPDC 2009; NCCL's
"bus bandwidth" in nccl-tests/doc/PERFORMANCE.md uses the same factors). Time = bytes sent / the
per-direction bandwidth of the slowest link in the ring. Per-message latency is not modelled (it
matters for tiny buckets), and NCCL reaches less than the links' peak: these times are lower bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Collective(StrEnum):
    ALL_REDUCE = "all_reduce"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_GATHER = "all_gather"
    HOST_TO_DEVICE = "host_to_device"  # offload: PCIe copies, CPU memory -> GPU
    DEVICE_TO_HOST = "device_to_host"


def bytes_sent_per_rank(op: Collective, tensor_bytes: float, n: int) -> float:
    """Bytes each rank sends for ``op`` on a tensor of ``tensor_bytes`` (the full, unsharded size)."""
    if op in (Collective.HOST_TO_DEVICE, Collective.DEVICE_TO_HOST):
        return tensor_bytes
    if n <= 1:
        return 0.0
    if op is Collective.ALL_REDUCE:
        return 2.0 * (n - 1) / n * tensor_bytes
    return (n - 1) / n * tensor_bytes


def seconds(op: Collective, tensor_bytes: float, n: int, gbs: float | None) -> float | None:
    """Time of ``op`` at ``gbs`` GB/s per direction (None when the bandwidth is unknown)."""
    sent = bytes_sent_per_rank(op, tensor_bytes, n)
    if sent == 0:
        return 0.0
    if gbs is None or gbs <= 0:
        return None
    return sent / (gbs * 1e9)


@dataclass
class CommItem:
    """One collective (or offload copy) of a strategy's step, and how much of it is exposed."""

    op: Collective
    what: str  # "gradients", "parameters (forward)", ...
    tensor_bytes: int  # the full tensor size the collective moves (before the ring factor)
    bytes_sent_per_gpu: int  # what each GPU sends over the link (ring factor applied)
    per: str  # "micro-step" | "step"
    link: str  # the link it crosses ("NVLink 3 (A100)", "PCIe 4.0 x16", ...)
    seconds: float | None  # at the link's peak rate, per occurrence
    overlap: str  # the overlap assumption, in words
    exposed_seconds: float | None  # per occurrence, after overlap
