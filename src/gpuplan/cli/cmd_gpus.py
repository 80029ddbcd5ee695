"""`gpuplan gpus`: list the catalog, filtered and sorted.

    gpuplan gpus --vendor nvidia --min-memory 24 --feature bf16 --sort bandwidth_gbs --desc
    gpuplan gpus --arch ampere --json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from gpuplan.catalog import features, load_catalog
from gpuplan.catalog.types import GPU, Features
from gpuplan.cli.main import add_common_options
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr
from gpuplan.render.console import stdout_console
from gpuplan.render.gpu_text import print_gpu_list
from gpuplan.render.jsonout import dumps, to_jsonable

SORT_FIELDS = tuple(f.name for f in dataclasses.fields(GPU) if f.name not in {"aliases", "sources", "notes"})
FEATURES = tuple(f.name for f in dataclasses.fields(Features) if f.type in {"bool", bool})
SEGMENTS = ("consumer", "laptop", "workstation", "datacenter", "apple")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gpus", help=tr("list the GPU catalog (filter, sort)"),
        description=tr("List the GPU catalog. Filters combine (AND); unknown values sort last."),
    )
    p.add_argument("--vendor", help=tr("NVIDIA, AMD, Intel or Apple (case-insensitive)"))
    p.add_argument("--arch", help=tr("architecture contains this text (e.g. ampere, hopper, 'rdna 3')"))
    p.add_argument("--segment", choices=SEGMENTS, help=tr("market segment"))
    p.add_argument("--min-memory", type=float, metavar="GIB", help=tr("at least this much memory (GiB)"))
    p.add_argument("--feature", action="append", default=[], metavar="NAME",
                   help=tr("has this hardware feature; repeatable ({names})", names=", ".join(FEATURES)))
    p.add_argument("--sort", default=None, metavar="FIELD",
                   help=tr("sort by a GPU field ({names}); catalog order by default", names=", ".join(SORT_FIELDS)))
    p.add_argument("--desc", action="store_true", help=tr("sort descending"))
    p.add_argument("--limit", type=int, metavar="N", help=tr("show at most N GPUs"))
    add_common_options(p)
    p.set_defaults(func=run)


def _feature_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    aliases = {"flash": "flash_attention", "fp16": "fp16_math", "tensor": "tensor_cores", "dp4a": "int8_dp4a",
               "mem_efficient": "mem_efficient_attention"}
    key = aliases.get(key, key)
    if key not in FEATURES:
        raise UsageError(msg("unknown feature {name}", name=repr(name)),
                         hint=msg("Features: {names}", names=", ".join(FEATURES)))
    return key


def filter_gpus(gpus: list[GPU], args: argparse.Namespace) -> list[GPU]:
    out = gpus
    if args.vendor:
        out = [g for g in out if g.vendor.lower() == args.vendor.lower()]
    if args.arch:
        out = [g for g in out if args.arch.lower() in g.architecture.lower()]
    if args.segment:
        out = [g for g in out if g.segment == args.segment]
    if args.min_memory is not None:
        out = [g for g in out if g.memory_bytes is not None and g.memory_bytes >= args.min_memory * 2**30]
    for name in args.feature:
        key = _feature_name(name)
        out = [g for g in out if getattr(features(g), key)]
    return out


def sort_gpus(gpus: list[GPU], field: str, desc: bool) -> list[GPU]:
    if field not in SORT_FIELDS:
        raise UsageError(msg("cannot sort by {field}", field=repr(field)),
                         hint=msg("Fields: {names}", names=", ".join(SORT_FIELDS)))
    known = [g for g in gpus if getattr(g, field) is not None]
    unknown = [g for g in gpus if getattr(g, field) is None]

    def key(g: GPU) -> Any:
        v = getattr(g, field)
        return v.lower() if isinstance(v, str) else v

    return sorted(known, key=key, reverse=desc) + unknown


def run(args: argparse.Namespace) -> int:
    gpus = filter_gpus(list(load_catalog()), args)
    if args.sort:
        gpus = sort_gpus(gpus, args.sort, args.desc)
    if args.limit is not None:
        gpus = gpus[: max(args.limit, 0)]
    if args.json:
        sys.stdout.write(dumps([to_jsonable(g) for g in gpus]) + "\n")
        return 0
    print_gpu_list(stdout_console(no_color=args.no_color), gpus)
    return 0
