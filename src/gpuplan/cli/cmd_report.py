"""`gpuplan report MODEL --gpu A,B,C -o report.html`: one self-contained file with the verdict and charts.

    gpuplan report resnet50 --gpu "gtx 760,rtx 3060 12gb,a100 80gb" --batch 32 -o report.html
    gpuplan report bert-base-uncased --gpu t4 --seq-len 128 --format md > report.md
    gpuplan report lstm --gpu "gtx 1060 6gb" --format json      # the same as --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr

FORMATS = ("html", "md", "json")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help=tr("a self-contained HTML (or Markdown/JSON) report with charts"),
                       description=tr("Fit, memory breakdown, memory vs batch, memory timeline, time per op class, "
                       "GPU comparison and advice in one file that works offline."))
    add_workload_options(p)
    p.add_argument("--gpu", default=None, help=tr("GPU name, 'a,b,c', 'all', or a spec file (.yaml/.json)"))
    p.add_argument("--gpu-spec", metavar="FILE|k=v,...", help=tr("a card not in the catalog (as in `gpuplan fit`)"))
    p.add_argument("-o", "--output", metavar="PATH", help=tr("write here (default: standard output; an HTML report "
                   "asked for on a terminal goes to report.html)"))
    p.add_argument("--format", choices=FORMATS, help=tr("html, md or json (default: from the -o suffix, else html)"))
    p.add_argument("--detail", type=int, default=3, metavar="N",
                   help=tr("per-GPU charts for the first N GPUs (default 3)"))
    p.add_argument("--no-advice", action="store_true", help=tr("leave out the advisor's plans for the first GPU "
                   "(the advisor traces every configuration it tries: most of the time for big models)"))
    add_common_options(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.json:
        if args.format not in (None, "json"):
            raise UsageError(msg("--json conflicts with --format {fmt}.", fmt=args.format))
        return "json"
    if args.format:
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lower()
        return {".md": "md", ".markdown": "md", ".json": "json"}.get(suffix, "html")
    return "html"


def run(args: argparse.Namespace) -> int:
    from gpuplan.catalog import get_gpu, resolve_gpus
    from gpuplan.render.progress import progress
    from gpuplan.report.build import build_report

    w, auto = workload_from_args(args)
    fmt = _format(args)
    if args.detail < 0:
        raise UsageError(msg("--detail {n}: must be 0 or more.", n=args.detail))
    if bool(args.gpu) == bool(args.gpu_spec):
        raise UsageError(msg("give exactly one of --gpu NAME and --gpu-spec FILE."))
    spec = (args.gpu or args.gpu_spec).strip()
    many = args.gpu is not None and ("," in spec or spec.lower() == "all")
    gpus = resolve_gpus(spec) if many else [get_gpu(spec)]
    out_path = Path(args.output) if args.output else None
    if out_path is None and fmt == "html" and sys.stdout.isatty():
        out_path = Path("report.html")
    if out_path is not None and out_path.parent and not out_path.parent.exists():
        raise UsageError(msg("-o {path}: directory {dir!r} does not exist.", path=args.output, dir=str(out_path.parent)))
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    from gpuplan.i18n import tr

    with progress(tr("report for {model}", model=w.model), json_output=out_path is None and fmt != "html") as bar:
        data = build_report(w, gpus, auto_batch=auto, context_bytes=context, detail=args.detail,
                            with_advice=not args.no_advice, progress=bar)
    if fmt == "json":
        from gpuplan.render.jsonout import dumps

        text = dumps(data) + "\n"
    elif fmt == "md":
        from gpuplan.report.markdown import render_markdown

        text = render_markdown(data)
    else:
        from gpuplan.report.html import render_html

        text = render_html(data)
    if out_path is None:
        sys.stdout.write(text)
        return 0
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(msg("-o {path}: cannot write: {err}.", path=args.output, err=e.strerror or str(e))) from None

    size = len(text.encode("utf-8"))
    print(tr("wrote {path} ({kib} KiB) in {secs} s", path=str(out_path), kib=f"{size / 1024:.0f}",
             secs=f"{data.build_seconds:.1f}"), file=sys.stderr)
    return 0
