"""`gpuplan plan MODEL --gpus 8xA100-80G`: data-parallel strategies (DDP, ZeRO-1/2/3, FSDP2, CPU offload),
per-GPU memory, step time with communication, and ready-to-run engine files.

    gpuplan plan meta-llama/Llama-2-7b-hf --gpus 8xA100-80G --precision amp-bf16 --seq-len 2048 --target-batch 64
    gpuplan plan resnet50 --gpus "4xRTX 3090" --batch 64 --strategy ddp,zero2 -o plan/
    gpuplan plan gpt2 --gpus 8xH100-SXM5 --nodes 4 --interconnect nvlink,ib-ndr --json
"""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import tr


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("plan", help=tr("multi-GPU training: DDP / ZeRO / FSDP2 / offload, memory, speed, engine files"),
                       description=tr("Plan data-parallel training on several GPUs: per-GPU memory and step time of "
                       "each strategy (communication included), and ready-to-run torchrun / accelerate / DeepSpeed / "
                       "FSDP2 files."))
    add_workload_options(p)
    p.add_argument("--gpus", required=True, metavar="COUNTxGPU",
                   help=tr("GPUs per node, e.g. 8xA100-80G, '4xRTX 3090', 2x\"GTX 1080 Ti\" (1 to 16)"))
    p.add_argument("--nodes", type=int, default=1, metavar="N", help=tr("number of machines (default 1)"))
    p.add_argument("--interconnect", metavar="LINK[,LINK]",
                   help=tr("inside a node: nvlink | pcie; between nodes: ib | ib-edr | ib-hdr | ib-ndr | ethernet | "
                   "eth-100g | eth-200g | eth-400g (default: NVLink when the GPU has it, else PCIe; InfiniBand of "
                   "the GPU's DGX generation)"))
    p.add_argument("--strategy", default="all", metavar="NAMES",
                   help=tr("all (default) or a comma list of: ddp, zero1, zero2, zero3, fsdp2, fsdp2-no-reshard, "
                   "zero2-offload, zero3-offload, fsdp2-offload"))
    p.add_argument("--target-batch", type=int, metavar="B", help=tr("global batch: choose micro-batch x accumulation "
                   "x data-parallel size = B, with the largest micro-batch that fits"))
    p.add_argument("-o", "--output-dir", metavar="DIR", help=tr("write each strategy's files to DIR/<strategy>/"))
    add_common_options(p)
    p.set_defaults(func=run)


def write_files(plan_obj: object, out: Path) -> list[Path]:
    """Write DIR/<strategy>/<file> for every strategy; launchers are made executable."""
    written = []
    for s in plan_obj.strategies:  # type: ignore[attr-defined]
        d = out / s.strategy
        d.mkdir(parents=True, exist_ok=True)
        for name, content in s.files.items():
            path = d / name
            path.write_text(content, encoding="utf-8")
            if name.endswith(".sh"):
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    from gpuplan.i18n import msg
    from gpuplan.plan import cluster_for, parse_strategies, plan
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps

    w, auto = workload_from_args(args)
    if args.target_batch is not None and (auto or args.batch != "1" or args.grad_accum != 1):
        raise UsageError(msg("--target-batch chooses the micro-batch and accumulation itself; leave out --batch and "
                             "--grad-accum (or drop --target-batch)."))
    cluster = cluster_for(args.gpus, nodes=args.nodes, interconnect=args.interconnect)
    strategies = parse_strategies(args.strategy)
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    result = plan(w, cluster, strategies, target_batch=args.target_batch, auto_batch=auto, context_bytes=context)
    written: list[Path] = []
    if args.output_dir:
        written = write_files(result, Path(args.output_dir))
    if args.json:
        print(dumps(result))
        return 0
    from gpuplan.i18n import tr
    from gpuplan.render.plan_text import print_plan

    console = stdout_console(no_color=args.no_color)
    print_plan(result, console)
    if written:
        console.print(tr("wrote {n} files under {dir}", n=len(written), dir=args.output_dir))
    return 0
