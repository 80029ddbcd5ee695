"""Predictions for the web server run in worker processes that are killed when they take too long.

A :class:`WorkerPool` keeps ``size`` warm worker processes (spawned, so the server's threads are not
forked). Each request takes an idle worker (waiting at most ``queue_timeout`` seconds, else
:class:`Busy`), sends it a validated job and waits at most ``timeout`` seconds for the answer; past
that the worker is killed and replaced (:class:`JobTimeout`). A worker that dies is replaced too.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import tempfile
import threading
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from gpuplan.web.validate import FitRequest


class Busy(Exception):
    """Every worker is busy (the server's concurrency limit)."""


class JobTimeout(Exception):
    """The prediction took longer than the limit; its worker was killed."""


class WorkerFailed(Exception):
    """The worker died or raised an unexpected error."""


class JobUserError(Exception):
    """The prediction refused the input (a GpuplanError): a 400 for the client."""


def run_job(req: FitRequest) -> dict[str, Any]:
    """One prediction as the page shows it: the report data (fit JSON inside), the charts and the HTML sections."""
    from gpuplan.catalog import get_gpu
    from gpuplan.i18n import set_language
    from gpuplan.render.jsonout import to_jsonable
    from gpuplan.report.build import build_report
    from gpuplan.report.html import gpu_charts, render_sections

    set_language(req.lang)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpuplan-serve-") as tmp:
        path = None
        if req.config_text is not None:
            path = os.path.join(tmp, "config.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(req.config_text)
        data = build_report(req.workload(path), [get_gpu(req.gpu)], auto_batch=req.auto_batch, detail=1,
                            with_advice=req.advise)
        result = {"report": to_jsonable(data), "charts": gpu_charts(data, 0), "html": render_sections(data)}
        if path is not None:  # the server's temporary paths mean nothing to the client
            result = _replace_text(_replace_text(result, path, "config.json"), tmp, ".")
    result["fit"] = result["report"]["fits"][0]
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _replace_text(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, str):
        return obj.replace(old, new)
    if isinstance(obj, dict):
        return {k: _replace_text(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_text(v, old, new) for v in obj]
    return obj


def _worker_main(conn: Connection) -> None:  # pragma: no cover - runs in the child process
    from gpuplan.errors import GpuplanError
    from gpuplan.web.validate import parse_fit_request

    # warm up (imports of torch and transformers, the tracer's and the engines' first-call costs) before
    # taking requests, so the time limit applies to the request's own work
    run_job(parse_fit_request({"model": "mlp", "gpu": "GeForce GTX 760", "batch": 2, "advise": False}))
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            conn.send(("ok", run_job(FitRequest(**job))))
        except GpuplanError as e:
            conn.send(("user_error", str(e)))
        except Exception as e:  # an unexpected failure: report it, keep serving
            conn.send(("error", f"{type(e).__name__}: {e}"))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="gpuplan-worker")
        self.proc.start()
        child.close()
        self._lock = threading.Lock()
        self._dead = False

    def kill(self) -> None:
        """Stop the process and close the pipe (idempotent: the pool and a start-up thread may both call it)."""
        with self._lock:
            if self._dead:
                return
            self._dead = True
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()


class WorkerPool:
    """``size`` worker processes; ``run(job)`` with a per-job time limit and a bounded wait for a worker."""

    def __init__(self, size: int = 1, *, timeout: float = 120.0, queue_timeout: float = 30.0,
                 start_timeout: float = 180.0) -> None:
        self.size = size
        self.timeout = timeout
        self.queue_timeout = queue_timeout
        self.start_timeout = start_timeout
        self._ctx = mp.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        """Start a worker and hand it to the idle queue once it has imported everything."""
        w = _Worker(self._ctx)
        with self._lock:
            self._all.add(w)

        def wait_ready() -> None:
            try:
                if w.conn.poll(self.start_timeout) and w.conn.recv()[0] == "ready" and not self._closed:
                    self._idle.put(w)
                    return
            except (EOFError, OSError):
                pass
            self._discard(w)
            if not self._closed:
                self._spawn()

        threading.Thread(target=wait_ready, daemon=True, name="gpuplan-worker-start").start()

    def _discard(self, w: _Worker) -> None:
        w.kill()
        with self._lock:
            self._all.discard(w)

    def wait_ready(self, timeout: float = 180.0) -> bool:
        """Block until at least one worker is idle (used at start-up and by tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._idle.qsize() > 0:
                return True
            time.sleep(0.05)
        return False

    def run(self, req: FitRequest) -> dict[str, Any]:
        try:
            w = self._idle.get(timeout=self.queue_timeout)
        except queue.Empty:
            raise Busy() from None
        try:
            w.conn.send(asdict(req))
            if not w.conn.poll(self.timeout):
                self._discard(w)
                self._spawn()
                raise JobTimeout()
            kind, payload = w.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as e:
            self._discard(w)
            self._spawn()
            raise WorkerFailed(str(e) or "the worker process died") from None
        self._idle.put(w)
        if kind == "ok":
            return dict(payload)
        if kind == "user_error":
            raise JobUserError(str(payload))
        raise WorkerFailed(str(payload))

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(None)
            w.proc.join(timeout=2)
            w.kill()
