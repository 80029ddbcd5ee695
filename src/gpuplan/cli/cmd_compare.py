"""`gpuplan compare MODEL --gpus LIST|all`: one row per GPU — fit, largest batch, speed, prices.

    gpuplan compare resnet50 --gpus "gtx 760,rtx 3060 12gb,a100 80gb sxm4" --dataset-size 1281167
    gpuplan compare resnet50 --gpus all --price-kind used --currency cny --sort value
    gpuplan compare bert-base-uncased --gpus "t4,l4,a100 80gb sxm4" --seq-len 128 --price-kind cloud --json
"""

from __future__ import annotations

import argparse

from gpuplan.advise.compare import SortKey
from gpuplan.catalog.prices import PRICES_ENV, PriceKind
from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("compare", help=tr("compare GPUs for one model: fit, largest batch, speed, price"),
                       description=tr("One row per GPU: does the model fit, the largest batch, samples/s at a common "
                       "batch and at each GPU's best batch, speed relative to a reference GPU, epoch time, and "
                       "with dated, sourced prices the cost per epoch and samples per money unit."))
    add_workload_options(p)
    p.set_defaults(batch="auto")
    p.add_argument("--gpus", required=True, metavar="LIST|all", help=tr("GPU names 'a,b,c', or 'all' (the catalog)"))
    p.add_argument("--reference", metavar="GPU", help=tr("GPU the relative speeds are divided by (default: the first "
                   "listed GPU that fits)"))
    p.add_argument("--max-batch", type=int, metavar="N", help=tr("cap each GPU's best batch at N (default: the "
                   "largest batch that fits); --batch N sets the common batch instead"))
    p.add_argument("--dataset-size", type=int, metavar="N", help=tr("samples per epoch, for epoch time and cost"))
    p.add_argument("--price-kind", default=PriceKind.NEW.value, choices=[k.value for k in PriceKind],
                   help=tr("which price: new (latest street price, else launch MSRP), used, or cloud (cheapest "
                   "on-demand per GPU-hour); default new"))
    p.add_argument("--prices", metavar="FILE", help=tr("CSV of your own prices (columns of prices.csv) that add to or "
                   "replace the shipped ones; also ${env}", env=PRICES_ENV))
    p.add_argument("--currency", default="USD", metavar="USD|CNY|EUR", help=tr("currency of the money columns "
                   "(converted with the latest dated rate; default USD)"))
    p.add_argument("--sort", default=None, choices=[s.value for s in SortKey],
                   help=tr("row order (default: input order for a list, speed for 'all')"))
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.advise.compare import compare_gpus
    from gpuplan.catalog import resolve_gpus
    from gpuplan.catalog.prices import load_prices
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps

    w, auto = workload_from_args(args)
    if args.max_batch is not None and args.max_batch <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--max-batch", value=args.max_batch))
    spec = args.gpus.strip()
    gpus = resolve_gpus(spec)
    prices = load_prices(args.prices)
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    sort = args.sort or (SortKey.SPEED if spec.lower() == "all" else SortKey.INPUT)
    from gpuplan.render.progress import progress

    with progress(tr("tracing {model}", model=w.model), total=len(gpus), json_output=args.json) as bar:
        res = compare_gpus(w, gpus, batch=None if auto else w.batch, max_batch=args.max_batch,
                           reference=args.reference, dataset_size=args.dataset_size, price_kind=args.price_kind,
                           currency=args.currency, prices=prices, context_bytes=context, sort=sort,
                           progress=bar.callback)

    if args.json:
        print(dumps(res.rows))
        return 0
    from gpuplan.render.compare_text import print_compare

    print_compare(res, stdout_console(no_color=args.no_color))
    return 0
