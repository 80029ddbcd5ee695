"""Words and numbers shared by the HTML and Markdown reports (one wording, translated once)."""

from __future__ import annotations

from gpuplan.api import FitResult
from gpuplan.i18n import tr
from gpuplan.memory.batch import MAX_BATCH
from gpuplan.report.data import BatchSweep, ReportData

BREAKDOWN_ORDER = ["parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries", "inputs",
                   "kv_cache", "workspaces", "allocator_overhead", "cuda_context"]


def verdict_word(fits: bool | None) -> str:
    return {True: tr("FITS"), False: tr("DOES NOT FIT"), None: tr("UNKNOWN")}[fits]


def workload_title(r: FitResult) -> str:
    parts = [r.model, tr(r.mode), r.precision] + ([r.optimizer] if r.optimizer else [])
    return " · ".join(parts)




def gib_note() -> str:
    return tr("Memory is in GiB and MiB: 1 GiB = 2^30 bytes ≈ 1.074 GB. A GPU sold with \"12 GB\" has 12 GiB; "
              "'usable' is that less what the driver keeps.")


def sweep_caption(s: BatchSweep) -> str:
    how = tr("checked with a real trace") if s.max_batch_checked else tr("from the batch model")
    text = tr("Device memory (context included) at each batch size, from real traces at batches {traced}; "
              "dashed: usable capacity.", traced=", ".join(str(b) for b in s.traced_batches))
    if s.max_batch_size is not None and s.max_batch_size >= MAX_BATCH:
        return text + " " + tr("Every batch up to {n} fits (the search stops there).", n=s.max_batch_size)
    if s.max_batch_size is not None:
        text += " " + tr("Largest batch {n} ({how}).", n=s.max_batch_size, how=how)
    return text + " " + tr("Near the limit the allocator frees its cache, so the curve bends before it crosses.")


def largest_batch_cell(data: ReportData, r: FitResult) -> str:
    """The largest batch: checked (``--batch auto``), or "≈N" from the batch model of a detail GPU, or blank."""
    if r.max_batch_size is not None:
        return str(r.max_batch_size)
    sweep = data.sweep_for(r.gpu.name)
    if sweep is not None and sweep.max_batch_size is not None:
        return f"≥{sweep.max_batch_size}" if sweep.max_batch_size >= MAX_BATCH else f"≈{sweep.max_batch_size}"
    return ""
