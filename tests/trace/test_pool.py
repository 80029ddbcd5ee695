"""gpuplan.trace.pool: traces from forked workers equal in-process traces, errors cross over with their
class, and a process that already ran backward does not fork (the autograd engine would refuse).

Each case runs in a fresh interpreter: this test process has run backward passes long before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gpuplan.trace.pool import TracePool, backward_ran, note_backward


def _run(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GPUPLAN_WORKERS"} | {"GPUPLAN_LANG": "en"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_PRELUDE = """
import dataclasses, json
from gpuplan.api import kernel_profile_for
from gpuplan.catalog import get_gpu
from gpuplan.trace import trace_workload
from gpuplan.trace.pool import PoolUnavailable, TracePool, backward_ran, result_or_none
from gpuplan.workload.spec import Workload

profile = kernel_profile_for(get_gpu("GTX 760"))

def signature(t):
    return ([(o.name, o.flops, o.bytes_in, o.bytes_out, o.launches) for o in t.ops],
            [(e.kind.value, e.block, e.nbytes, e.category.value) for e in t.events])
"""


def test_worker_trace_equals_local_trace_and_errors_keep_their_class() -> None:
    out = _run(_PRELUDE + """
pool = TracePool.start(2)
assert pool is not None and not backward_ran()
w = Workload("lenet5", batch=4)
remote = [pool.submit(w, profile), pool.submit(w.with_batch(8), profile)]
remote = [f.result() for f in remote]
local = [trace_workload(w, profile), trace_workload(w.with_batch(8), profile)]
try:
    pool.submit(dataclasses.replace(w, batch=0), profile).result()
    err = None
except Exception as e:
    err = [type(e).__name__, e.exit_code, str(e)]
print(json.dumps({"same": [signature(a) == signature(b) for a, b in zip(remote, local)],
                  "n_ops": len(local[0].ops), "err": err, "backward_ran": backward_ran(),
                  "refused_after_backward": TracePool.start(2) is None}))
""")
    assert out["same"] == [True, True] and out["n_ops"] > 10
    assert out["err"][0] == "UsageError" and out["err"][1] == 2 and "--batch 0" in out["err"][2]
    assert out["backward_ran"] is True
    assert out["refused_after_backward"] is True


def test_call_aside_runs_in_its_own_process_and_errors_keep_their_class() -> None:
    out = _run(_PRELUDE + """
import os
from gpuplan.trace.pool import _ping
pool = TracePool.start(2)
aside = pool.call_aside(_ping).result()
workers = {f.result() for f in [pool.call(_ping, affinity=k) for k in range(4)]}
trace = pool.call_aside(trace_workload, Workload("lenet5", batch=4), profile).result()
try:
    pool.call_aside(trace_workload, Workload("lenet5", batch=0), profile).result()
    err = None
except Exception as e:
    err = type(e).__name__
print(json.dumps({"aside": aside, "workers": sorted(workers), "me": os.getpid(), "err": err,
                  "same": signature(trace) == signature(trace_workload(Workload("lenet5", batch=4), profile))}))
pool.close()
""")
    assert out["workers"] and out["aside"] not in out["workers"] and out["aside"] != out["me"]
    assert out["err"] == "UsageError" and out["same"] is True


def test_worker_forked_after_backward_is_reported_and_caller_falls_back() -> None:
    out = _run(_PRELUDE + """
w = Workload("lenet5", batch=4)
local = trace_workload(w, profile)          # runs backward here
pool = TracePool(1)                         # forked anyway (TracePool.start would refuse)
done, trace = result_or_none(pool.submit(w, profile), pool)
try:
    pool.submit(w, profile)
    refused = False
except PoolUnavailable:
    refused = True
print(json.dumps({"done": done, "broken": pool.broken, "refused": refused}))
pool.close()
""")
    assert out == {"done": False, "broken": True, "refused": True}


@pytest.mark.slow
def test_advice_is_the_same_with_and_without_workers() -> None:
    out = _run(_PRELUDE + """
from gpuplan.advise.advisor import advise
from gpuplan.render.jsonout import to_jsonable
def run(pool):
    a = to_jsonable(advise(Workload("cifar_cnn", batch=64), get_gpu("GTX 760"), target_batch=4096, pool=pool))
    stats = a.pop("search")
    return a, stats
with_pool, s1 = run(True)       # first: this process has not run backward yet, so workers fork
without, s2 = run(False)
print(json.dumps({"same": with_pool == without, "plans": len(with_pool["plans"]),
                  "traces": [s1["traces"], s2["traces"]]}))
""")
    assert out["same"] is True
    assert out["plans"] >= 1
    assert out["traces"][0] == out["traces"][1] > 2


@pytest.mark.slow
def test_report_is_the_same_with_and_without_workers() -> None:
    """With workers the report's own traces and sweeps run in the pool's extra process and the advisor in
    this one; without, all here: the same report."""
    out = _run(_PRELUDE + """
import os
from datetime import UTC, datetime
from gpuplan.catalog import resolve_gpus
from gpuplan.render.jsonout import to_jsonable
from gpuplan.report.build import build_report
def run():
    r = to_jsonable(build_report(Workload("cifar_cnn", batch=2048), resolve_gpus("gtx 760,t4"),
                                 now=datetime(2026, 1, 1, tzinfo=UTC)))
    r.pop("build_seconds")
    r["advice"].pop("search")
    for f in r["fits"]:
        f.pop("trace_seconds")
    return r
with_pool = run()               # first: this process has not run backward yet, so workers fork
os.environ["GPUPLAN_WORKERS"] = "0"
without = run()
print(json.dumps({"same": with_pool == without, "plans": len(with_pool["advice"]["plans"]),
                  "traces": with_pool["traces"]}))
""")
    assert out["same"] is True
    assert out["plans"] >= 1 and out["traces"] == 2


def test_start_is_refused_once_this_process_ran_backward() -> None:
    note_backward()  # idempotent: the test process has traced training steps anyway
    assert backward_ran()
    assert TracePool.start(2) is None


@pytest.mark.parametrize("value", ["abc", "-1", "2.5"])
def test_bad_workers_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from gpuplan.errors import UsageError

    monkeypatch.setenv("GPUPLAN_WORKERS", value)
    with pytest.raises(UsageError, match="GPUPLAN_WORKERS"):
        TracePool.start()
