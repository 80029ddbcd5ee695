"""The typed content of a report: what ``gpuplan report`` renders as HTML, Markdown or JSON.

``to_jsonable(ReportData)`` is the ``--format json`` output; each item of ``fits`` is exactly the
object ``gpuplan fit --json`` prints for that GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuplan.api import FitResult
from gpuplan.i18n import msg


@dataclass
class SweepPoint:
    """Predicted device memory at one batch size on one GPU."""

    batch: int
    device_total_bytes: int
    peak_allocated_bytes: int
    fits: bool | None


@dataclass
class BatchSweep:
    """Memory against batch size on one GPU, from two real traces (memory is affine in the batch).

    ``max_batch_checked`` is True when the largest batch was confirmed by a real trace (``--batch auto``);
    otherwise it comes from the batch model alone. ``traced_batches`` are the real traces behind the curve.
    """

    gpu: str
    capacity_bytes: int | None
    context_bytes: int
    max_batch_size: int | None
    max_batch_checked: bool
    current_batch: int
    affine: bool
    traced_batches: list[int]
    points: list[SweepPoint]
    notes: list[str] = field(default_factory=list)


@dataclass
class PricePoint:
    """One GPU of the comparison: its throughput at the report's batch and what it costs.

    ``purchase``: the new price, else the used one (``purchase.kind`` says which); ``cloud``: the cheapest
    cloud offer. ``per_1k``: samples/s per 1,000 units of ``currency`` of purchase price (per device);
    ``per_unit_cloud``: samples one unit of ``currency`` buys in the cloud.
    """

    gpu: str
    fits: bool | None
    batch: int
    samples_per_second: float | None
    purchase: Any  # gpuplan.catalog.prices.PriceQuote | None
    purchase_per_device: float | None
    cloud: Any  # PriceQuote | None
    cloud_per_gpu_hour: float | None
    per_1k: float | None
    per_unit_cloud: float | None


@dataclass
class Comparison:
    """Throughput against price for the report's GPUs (``gpuplan compare`` goes further: common batch,
    relative speed, epoch cost)."""

    currency: str
    points: list[PricePoint]
    notes: list[str] = field(default_factory=list)


@dataclass
class Availability:
    """A section that may be missing: ``available`` False with the reason (shown as 'not available')."""

    available: bool
    reason: str | None = None


@dataclass
class ReportData:
    """Everything a report shows, as data.

    ``fits``: one ``FitResult`` per GPU (the ``fit --json`` records). ``sweeps``: memory vs batch for the
    first few GPUs (``detail_gpus``). ``comparison`` / ``advice``: the outputs of the GPU comparison and
    the advisor when those engines are installed, else None with ``*_status`` saying why.
    """

    gpuplan_version: str
    generated_at: str  # ISO 8601, UTC
    workload: dict[str, Any]
    auto_batch: bool
    fits: list[FitResult]
    detail_gpus: list[str]
    sweeps: list[BatchSweep]
    comparison: Any = None
    comparison_status: Availability = field(default_factory=lambda: Availability(False, msg("not computed")))
    advice: Any = None
    advice_status: Availability = field(default_factory=lambda: Availability(False, msg("not computed")))
    build_seconds: float = 0.0
    traces: int = 0  # real traces run to build the report

    def fit_for(self, gpu_name: str) -> FitResult | None:
        return next((r for r in self.fits if r.gpu.name == gpu_name), None)

    def sweep_for(self, gpu_name: str) -> BatchSweep | None:
        return next((s for s in self.sweeps if s.gpu == gpu_name), None)
