"""Trace workloads in worker processes, so searches that trace many candidates use every core.

    >>> from gpuplan.trace.pool import TracePool
    >>> pool = TracePool.start()             # None when worker processes cannot be used here
    >>> if pool is not None:                  # doctest: +SKIP
    ...     fut = pool.submit(workload, profile)   # a concurrent.futures.Future of a Trace
    ...     trace = fut.result()
    ...     pool.close()

Tracing is pure Python on fake tensors, so threads cannot run two traces at once; processes can. The
workers are **forked**, which costs nothing (the parent's imports, warm caches and catalog are shared)
but is only possible *before* this process runs autograd's backward pass: PyTorch's autograd engine
refuses to run in a child forked after the parent used it ("Unable to handle autograd's threading in
combination with fork-based multiprocessing"). :func:`backward_ran` says whether a training trace ran in
this process; :meth:`TracePool.start` returns None then (callers trace in-process, as before), on
platforms without ``fork``, and on one core. A worker that nevertheless fails that way is reported as
:class:`PoolUnavailable`, and the pool stops accepting work; callers fall back to tracing themselves.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ParamSpec, TypeVar

from gpuplan.trace.records import Trace

_BACKWARD_RAN = False
_FAKE_SESSION = threading.RLock()
P = ParamSpec("P")
R = TypeVar("R")


def one_fake_session(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` (which builds or traces a model under fake tensors) while no other thread of this process
    does: the report's advisor thread and its main thread would otherwise interleave fake-tensor sessions."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _FAKE_SESSION:
            return fn(*args, **kwargs)

    return wrapper


def note_backward() -> None:
    """Called by the tracer before it runs a backward pass (after which this process cannot fork workers)."""
    global _BACKWARD_RAN
    _BACKWARD_RAN = True


def backward_ran() -> bool:
    """True once this process ran a training trace (autograd's engine threads exist: no more forking)."""
    return _BACKWARD_RAN


class PoolUnavailable(RuntimeError):
    """A worker could not trace for a reason of the process, not of the workload (fork after backward)."""


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _init_worker() -> None:
    # a worker's progress and warnings are its parent's business; keep its stderr for real errors only
    import warnings

    warnings.filterwarnings("ignore")


def _ping() -> int:
    return os.getpid()


def _warm_up(preload: Any = None) -> None:
    """Trace a tiny forward pass here, before forking: a first trace imports about a thousand modules
    lazily (torch._dynamo, decompositions, sympy, ...), about a second that every worker would otherwise
    pay again (measured: report with the advisor 13.8 s without this, 12.6 s with it). Forward only
    (inference mode), so this process can still fork. (Warming with the user's own model instead was
    measured too: no faster overall, as this process pays for it before forking.)"""
    from gpuplan.trace import trace_workload
    from gpuplan.workload.spec import Mode, Workload

    with contextlib.suppress(Exception):  # a warm-up, never a reason to fail
        trace_workload(Workload("lenet5", batch=1, mode=Mode.INFER))
    if preload is not None:  # what naming the workers' model imports (torchvision, a user's file): once, here
        from gpuplan.workload.zoo import resolve_model

        with contextlib.suppress(Exception):
            resolve_model(preload)


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return fn(*args)
    except Exception as e:  # the tracer may wrap the engine's RuntimeError in a GpuplanError
        if "fork" in str(e) and "autograd" in str(e):
            raise PoolUnavailable(str(e)) from None
        raise


def _trace(workload: Any, profile: Any) -> Trace:
    from gpuplan.trace import trace_workload

    return trace_workload(workload, profile)


class TracePool:
    """Forked worker processes that trace workloads (and run other picklable functions) on request.

    Each worker is its own single-process executor, and a trace goes to the worker that already traced
    that batch size when there is one (else to the least busy): FakeTensor caches each op by its shapes,
    so a worker that traced batch 1 of one candidate traces batch 1 of the next one much faster.
    With ``aside`` (the default) one more process takes a longer job beside them (:meth:`call_aside`).
    """

    def __init__(self, workers: int, *, aside: bool = True) -> None:
        self.workers = workers
        ctx = mp.get_context("fork")
        self._executors = [ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker)
                           for _ in range(workers)]
        self._queued = [0] * workers
        self._affinity: dict[Any, int] = {}
        self._lock = threading.Lock()
        self.broken = False
        # one more process for work beside the traces (call_aside): it shares the cores with the trace
        # workers, not this process's interpreter lock with whatever this process does meanwhile
        self._aside = (ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker) if aside
                       else None)
        # with the fork start method an executor forks its worker on the first submit: do it now, while
        # this process has not run a backward pass. The workers inherit the parent's objects frozen
        # (gc.freeze): their collections skip the imported modules and warm caches, and do not touch
        # the shared pages; the parent goes on collecting as before.
        gc.freeze()
        try:
            for ex in self._all():
                ex.submit(_ping)
        finally:
            gc.unfreeze()

    @classmethod
    def start(cls, workers: int | None = None, *, preload: Any = None, aside: bool = True) -> TracePool | None:
        """A pool of ``workers`` processes (default: one per usable core), or None when this process cannot
        fork usable workers (backward already ran here, no ``fork``, one core, or ``GPUPLAN_WORKERS=0``).
        A tiny forward pass is traced here first (``_warm_up``), so the workers start warm, and the modules
        the ``preload`` workload's model comes from are imported."""
        env = os.environ.get("GPUPLAN_WORKERS")
        if workers is None and env is not None and env.strip():
            if not env.strip().isdigit():
                from gpuplan.errors import UsageError
                from gpuplan.i18n import msg

                raise UsageError(msg("GPUPLAN_WORKERS={value}: expected a whole number of trace worker processes "
                                     "(0 traces in this process).", value=repr(env)))
            workers = int(env)
        n = _usable_cores() if workers is None else workers
        if n < 2 if workers is None else n < 1:
            return None
        if backward_ran() or "fork" not in mp.get_all_start_methods():
            return None
        _warm_up(preload)
        return cls(n, aside=aside)

    def _done(self, i: int) -> Callable[[Future[Any]], None]:
        def done(_: Future[Any]) -> None:
            with self._lock:
                self._queued[i] -= 1
        return done

    def call(self, fn: Callable[..., Any], *args: Any, affinity: Any = None) -> Future[Any]:
        """Run module-level ``fn(*args)`` in a worker (arguments and result are pickled); calls with the same
        ``affinity`` key go to the same worker."""
        with self._lock:
            if self.broken:
                raise PoolUnavailable("the trace pool is not usable")
            i = self._affinity.get(affinity) if affinity is not None else None
            if i is None:
                i = min(range(self.workers), key=lambda k: (self._queued[k], k))
                if affinity is not None:
                    self._affinity[affinity] = i
            try:
                fut = self._executors[i].submit(_run, fn, args)
            except (BrokenProcessPool, RuntimeError) as e:
                self.broken = True
                raise PoolUnavailable(str(e)) from e
            self._queued[i] += 1
        fut.add_done_callback(self._done(i))
        return fut

    def _all(self) -> list[ProcessPoolExecutor]:
        return [*self._executors, *([self._aside] if self._aside is not None else [])]

    def call_aside(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run module-level ``fn(*args)`` in the pool's extra process, beside the trace workers (for a
        longer job this process would otherwise run in a thread, e.g. the report's own traces and sweeps)."""
        with self._lock:
            if self.broken or self._aside is None:
                raise PoolUnavailable("the trace pool is not usable" if self.broken else "this pool has no extra process")
            try:
                return self._aside.submit(_run, fn, args)
            except (BrokenProcessPool, RuntimeError) as e:
                self.broken = True
                raise PoolUnavailable(str(e)) from e

    def submit(self, workload: Any, profile: Any) -> Future[Trace]:
        """Trace ``workload`` under ``profile`` in a worker (the one that traced its batch size before)."""
        return self.call(_trace, workload, profile, affinity=("batch", workload.batch))

    def mark_broken(self) -> None:
        with self._lock:
            self.broken = True

    def close(self) -> None:
        """Stop the workers now, including one still tracing a speculative candidate (nobody waits for it;
        a plain shutdown would make the interpreter wait for it at exit)."""
        with self._lock:
            self.broken = True
        for ex in self._all():
            procs = list(getattr(ex, "_processes", {}).values())  # private, but only used to stop our own
            ex.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()

    def __enter__(self) -> TracePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def result_or_none(fut: Future[Any], pool: TracePool) -> tuple[bool, Any]:
    """(True, result) from a pool future, or (False, None) when the pool failed for a reason of its own
    (the caller then does the work itself). Errors of the work itself (a model that cannot be traced)
    are raised as they are."""
    try:
        return True, fut.result()
    except (PoolUnavailable, BrokenProcessPool):
        pool.mark_broken()
        return False, None
