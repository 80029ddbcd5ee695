"""`gpuplan fit MODEL --gpu NAME`: will it fit, where the memory goes, the largest batch, and how fast."""

from __future__ import annotations

import argparse

from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("fit", help=tr("will a model fit on a GPU, where the memory goes, how fast"),
                       description=tr("Predict peak GPU memory (and step time) of one training or inference step."))
    add_workload_options(p)
    p.add_argument("--gpu", default=None, help=tr("GPU name, 'a,b,c', 'all', or a spec file (.yaml/.json)"))
    p.add_argument("--gpu-spec", metavar="FILE|k=v,...", help=tr("a card not in the catalog: a YAML/JSON spec file or "
                   "inline fields (same as `gpuplan gpu --gpu-spec`)"))
    p.add_argument("--dataset-size", type=int, metavar="N", help=tr("samples per epoch, for the epoch time"))
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.api import TraceCache, fit_many
    from gpuplan.catalog import get_gpu, resolve_gpus
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps
    from gpuplan.trace.pool import TracePool

    w, auto = workload_from_args(args)
    if args.dataset_size is not None and args.dataset_size <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--dataset-size",
                             value=args.dataset_size))
    if bool(args.gpu) == bool(args.gpu_spec):
        raise UsageError(msg("give exactly one of --gpu NAME and --gpu-spec FILE."))
    spec = (args.gpu or args.gpu_spec).strip()
    many = args.gpu is not None and ("," in spec or spec.lower() == "all")
    gpus = resolve_gpus(spec) if many else [get_gpu(spec)]
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    from gpuplan.render.progress import progress

    # --batch auto traces at 2 and 4, then checks the largest batch of up to 3 GPUs: in trace workers, side by side
    pool = TracePool.start(preload=w, aside=False) if auto else None
    try:
        with progress(tr("tracing {model}", model=w.model), total=len(gpus), json_output=args.json) as bar:
            results = fit_many(w, gpus, auto_batch=auto, context_bytes=context, progress=bar.callback,
                               trace_cache=TraceCache(pool))
    finally:
        if pool is not None:
            pool.close()
    if args.json:
        print(dumps(results if many else results[0]))
        return 0
    from gpuplan.render.fit_text import print_fit, print_fit_table

    console = stdout_console(no_color=args.no_color)
    if many:
        print_fit_table(results, console)
    else:
        print_fit(results[0], console, dataset_size=args.dataset_size)
    return 0
