"""gpuplan.api.TraceCache: one trace per kernel profile when attention kernels differ, one for all otherwise;
with trace workers fit_many gives the same answers, its traces made side by side (in a fresh interpreter:
workers fork only from a process that has not run a backward pass)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gpuplan.api import TraceCache
from gpuplan.trace import KernelProfile
from gpuplan.workload.spec import InputSpec, Workload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models.py"


def test_attention_models_get_one_trace_per_kernel_profile_others_one_in_all() -> None:
    w = Workload(f"{FIXTURES}:attention", batch=2, inputs=(InputSpec((16, 64)),))
    flash, math_ = KernelProfile(attention="flash"), KernelProfile(attention="math")
    cache = TraceCache()
    seen: list[int] = []
    cache.on_trace = lambda w: seen.append(w.batch)
    t_flash = cache.fn(flash)(w)
    assert t_flash.depends_on_attention_backend
    t_math = cache.fn(math_)(w)
    assert t_math is not t_flash and cache.count == 2 and seen == [2, 2]
    assert cache.fn(flash)(w) is t_flash and cache.count == 2
    cnn = Workload("lenet5", batch=2)
    cache2 = TraceCache()
    assert cache2.fn(math_)(cnn) is cache2.fn(flash)(cnn) and cache2.count == 1


def test_fit_many_auto_batch_is_the_same_with_trace_workers() -> None:
    code = textwrap.dedent("""
        import json
        from gpuplan.api import TraceCache, fit_many
        from gpuplan.catalog import resolve_gpus
        from gpuplan.render.jsonout import to_jsonable
        from gpuplan.trace.pool import TracePool
        from gpuplan.workload.spec import Workload

        w, gpus = Workload("cifar_cnn"), resolve_gpus("gtx 760,t4,a100 80gb")
        pool = TracePool.start(2, preload=w, aside=False)
        cache = TraceCache(pool)
        remote = to_jsonable(fit_many(w, gpus, auto_batch=True, trace_cache=cache))
        pool.close()
        local = to_jsonable(fit_many(w, gpus, auto_batch=True))
        for r in remote + local:
            r.pop("trace_seconds")
        print(json.dumps({"same": remote == local, "traces": len(cache.cache),
                          "batches": [r["max_batch_size"] for r in local]}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "GPUPLAN_WORKERS"} | {"GPUPLAN_LANG": "en"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same"] is True
    assert out["traces"] == 5  # batches 2 and 4, and the largest batch of each of the three GPUs
    assert len(set(out["batches"])) == 3
