#!/usr/bin/env python
"""Cross-check gpuplan's live-tensor accounting against PyTorch's own MemTracker, per model family.

    python scripts/memtracker_crosscheck.py            # markdown table (about a minute)

What is compared: the peak of live tensor bytes during one steady-state training step (optimizer state
created, gradients None at the start) — before any allocator rounding, caching, context or workspace.
gpuplan's side is the event stream of ``gpuplan.trace.trace_workload`` (storages tracked by a dispatch
mode and weak-reference finalisers); PyTorch's side is ``torch.distributed._tools.mem_tracker.MemTracker``
(PyTorch's own tracker, which its tests hold to ±10% of the CUDA allocator's active-bytes peak), run on
the same model, inputs, loss and optimizer under FakeTensorMode on the CPU. This checks the bookkeeping
(every storage counted once, freed when the program frees it), independently of gpuplan's code; it does
not check the allocator model, the CUDA context or the emulated CUDA kernels, so the cases are fp32 with
no fused attention or cuDNN RNN (where the CPU and the GPU run different kernels). It is not a
measurement on a GPU.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from gpuplan.trace import KernelProfile, trace_workload
from gpuplan.trace.hostconst import HostConstants, fakeify_host_tensors
from gpuplan.trace.records import EventKind
from gpuplan.trace.tracer import _batch_inputs, _effective_inputs, _loss, _make_optimizer
from gpuplan.workload.spec import Mode, OptimizerKind, Workload
from gpuplan.workload.zoo import resolve_model

EAGER = (("attn_implementation", "eager"),)

CASES: list[tuple[str, Workload]] = [
    ("mlp", Workload("mlp", batch=64)),
    ("cnn", Workload("lenet5", batch=64)),
    ("cnn", Workload("cifar_cnn", batch=64)),
    ("cnn", Workload("resnet18", batch=8)),
    ("cnn", Workload("resnet50", batch=4, optimizer=OptimizerKind.SGD_MOMENTUM)),
    ("cnn", Workload("mobilenet_v3_small", batch=8)),
    ("transformer", Workload("bert-base-uncased", batch=2, seq_len=128, extra=EAGER)),
    ("llm", Workload("gpt2", batch=2, seq_len=128, extra=EAGER)),
    ("llm", Workload("Qwen/Qwen2.5-0.5B", batch=1, seq_len=64, extra=EAGER)),
]


@dataclass
class Row:
    family: str
    workload: Workload
    gpuplan_bytes: int
    memtracker_bytes: int

    @property
    def error(self) -> float:
        return self.gpuplan_bytes / self.memtracker_bytes - 1


def gpuplan_live_peak(w: Workload) -> int:
    """Peak of live tensor bytes in gpuplan's trace of one step (no allocator)."""
    t = trace_workload(w, KernelProfile(attention="math"))
    live = peak = 0
    for e in t.events:
        live += e.nbytes if e.kind is EventKind.ALLOC else -e.nbytes
        peak = max(peak, live)
    return peak


def memtracker_live_peak(w: Workload) -> int:
    """Peak of live tensor bytes that PyTorch's MemTracker sees for the same step."""
    from torch.distributed._tools.mem_tracker import MemTracker

    spec = resolve_model(w)
    inputs = _effective_inputs(w, spec)
    assert w.mode is Mode.TRAIN
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        with HostConstants():
            model = spec.build()
        fakeify_host_tensors(model, fake)
        model.train(True)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = _make_optimizer(w.optimizer, params, True)
        for p in params:  # steady state: the optimizer state exists
            p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)
        mt = MemTracker()
        mt.track_external(model, opt)
        with mt:
            args, kwargs = _batch_inputs(spec, inputs, w.batch, None, spec.vocab_size)
            labels = None
            loss_kind = w.loss or spec.loss
            if spec.hf and spec.hf_task in ("causal-lm", "masked-lm") and loss_kind == "model":
                kwargs["labels"] = kwargs.get("input_ids", args[0] if args else None)
            elif loss_kind == "cross-entropy" and spec.num_classes:
                labels = torch.randint(0, spec.num_classes, (w.batch,))
            out = model(*args, **kwargs)
            loss = _loss(spec, loss_kind, out, w.batch, labels)
            del out
            loss.backward()
            del loss, args, kwargs, labels
            opt.step()
        snap = mt.get_tracker_snapshot("peak")
    return int(sum(v["Total"] for v in snap.values()))


def n_trainable_tensors(w: Workload) -> int:
    """Number of trainable parameter tensors (Adam keeps one host-side step counter per tensor)."""
    spec = resolve_model(w)
    with FakeTensorMode(allow_non_fake_inputs=True), HostConstants():
        return sum(1 for p in spec.build().parameters() if p.requires_grad)


def run(cases: list[tuple[str, Workload]] = CASES) -> list[Row]:
    return [Row(fam, w, gpuplan_live_peak(w), memtracker_live_peak(w)) for fam, w in cases]


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    rows = run()
    print("| family | workload | gpuplan MiB | MemTracker MiB | difference (bytes) | difference |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        w = r.workload
        what = f"{w.model}, batch {w.batch}" + (f", seq {w.seq_len}" if w.seq_len else "") + f", {w.optimizer.value}"
        print(f"| {r.family} | {what} | {r.gpuplan_bytes / 2**20:.1f} | {r.memtracker_bytes / 2**20:.1f} | "
              f"{r.gpuplan_bytes - r.memtracker_bytes:+,} | {r.error * 100:+.4f}% |")
    worst = max(abs(r.error) for r in rows)
    print(f"\nlargest |difference| {worst * 100:.4f}% over {len(rows)} workloads; the bytes MemTracker counts "
          "beyond gpuplan are Adam's step counters (4 B per parameter tensor), which PyTorch keeps on the host")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
