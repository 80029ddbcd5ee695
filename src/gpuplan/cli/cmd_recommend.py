"""`gpuplan recommend MODEL [--budget 300usd|1500cny] [--rent] [--epochs N --dataset-size N]`.

GPUs to buy (new or used) and cloud offers to rent, ranked by the time and total cost to finish the job,
each with the largest batch it can use. Prices are dated and sourced; stale ones are marked.

    gpuplan recommend resnet50 --budget 300usd --epochs 10 --dataset-size 1281167
    gpuplan recommend bert-base-uncased --seq-len 128 --rent --epochs 3 --dataset-size 400000 --budget ¥500
    gpuplan recommend lenet5 --buy --budget 1500cny --json
"""

from __future__ import annotations

import argparse

from gpuplan.catalog.prices import PRICES_ENV
from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("recommend", help=tr("which GPU to buy or rent for a job, within a budget"),
                       description=tr("Rank GPUs to buy (new or used) and cloud offers to rent by the time and total "
                       "cost to finish the job, with the largest batch each can use. Prices come from a dated, "
                       "sourced file (override with --prices); currencies are converted with a dated rate."))
    add_workload_options(p)
    p.add_argument("--budget", metavar="AMOUNT", help=tr("most to spend: 300usd, $300, 1500cny, ¥1500, 250eur, €250 "
                   "(a purchase price, or the whole job's rent)"))
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--rent", action="store_true", help=tr("only cloud offers (hourly prices, free tiers)"))
    scope.add_argument("--buy", action="store_true", help=tr("only GPUs to buy (new or used)"))
    p.add_argument("--epochs", type=int, metavar="N", help=tr("passes over the dataset (default 1; needs --dataset-size)"))
    p.add_argument("--dataset-size", type=int, metavar="N", help=tr("samples per epoch: with it, options rank by the "
                   "job's time and total cost"))
    p.add_argument("--gpus", metavar="LIST", help=tr("only these GPUs ('a,b,c'; default: every GPU with a price)"))
    p.add_argument("--spot", action="store_true", help=tr("also rank spot (preemptible) cloud offers"))
    p.add_argument("--currency", metavar="USD|CNY|EUR", help=tr("currency of the money columns (default: the "
                   "budget's, else USD)"))
    p.add_argument("--prices", metavar="FILE", help=tr("CSV of your own prices (columns of prices.csv) that add to or "
                   "replace the shipped ones; also ${env}", env=PRICES_ENV))
    p.add_argument("--top", type=int, default=10, metavar="N", help=tr("rows per table in the text output (default 10; "
                   "--json has all)"))
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.advise.recommend import Scope, recommend
    from gpuplan.catalog import resolve_gpus
    from gpuplan.catalog.prices import load_prices, parse_budget
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps

    w, _ = workload_from_args(args)
    if args.top <= 0:
        raise UsageError(msg("{flag} {value}: must be a positive integer.", flag="--top", value=args.top))
    budget = None
    if args.budget is not None:
        budget = parse_budget(args.budget, default_currency=args.currency or "USD")
    prices = load_prices(args.prices)
    gpus = resolve_gpus(args.gpus) if args.gpus else None
    scope = Scope.RENT if args.rent else Scope.BUY if args.buy else Scope.BOTH
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    from gpuplan.render.progress import progress

    with progress(tr("tracing {model}", model=w.model), total=None, json_output=args.json) as bar:
        res = recommend(w, budget=budget, scope=scope, epochs=args.epochs, dataset_size=args.dataset_size,
                        currency=args.currency, prices=prices, gpus=gpus, include_spot=args.spot,
                        context_bytes=context, progress=bar.callback)

    if args.json:
        print(dumps(res))
        return 0
    from gpuplan.render.recommend_text import print_recommend

    print_recommend(res, stdout_console(no_color=args.no_color), top=args.top)
    return 0
