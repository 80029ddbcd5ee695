"""`gpuplan models`: the models gpuplan builds by name (seeds, shipped Hugging Face configs, torchvision)."""

from __future__ import annotations

import argparse
from typing import Any

from gpuplan.cli.main import add_common_options
from gpuplan.i18n import tr


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help=tr("list the models gpuplan builds by name"),
                              description=tr("Models gpuplan builds by name. Also: timm:NAME for any timm model, "
                                             "--hf-config path/config.json, and your own code as "
                                             "path/to/file.py:factory or package.module:factory."))
    p.add_argument("--source", choices=("seed", "hf-config", "torchvision"), help=tr("only this kind of model"))
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps
    from gpuplan.workload.models import zoo_entries

    entries = zoo_entries(args.source)
    if args.json:
        print(dumps(entries))
        return 0
    console = stdout_console(no_color=args.no_color)
    headers = {"seed": tr("seed examples"), "hf-config": tr("Hugging Face configs (no download)"),
               "torchvision": tr("torchvision")}
    for source, title in headers.items():
        rows = [e for e in entries if e.source == source]
        if not rows:
            continue
        console.print(f"{title} ({len(rows)})", highlight=False)
        if source == "torchvision":
            console.print("  " + ", ".join(e.name for e in rows), highlight=False, soft_wrap=False)
            continue
        width = max(len(e.name) for e in rows)
        for e in rows:
            console.print(f"  {e.name.ljust(width)}  {e.family:<11}  {e.detail}", highlight=False)
    console.print(tr("Also: timm:NAME for any timm model, --hf-config path/config.json, and your own code as "
                     "path/to/file.py:factory or package.module:factory."), highlight=False)
    return 0
