"""`gpuplan advise MODEL --gpu NAME`: which settings make it fit and run fastest on that GPU, and the code.

    gpuplan advise resnet50 --gpu "GTX 760" --target-batch 64
    gpuplan advise bert-base-uncased --gpu "GTX 760" --seq-len 128 --target-batch 32
    gpuplan advise gpt2 --gpu "rtx 3060 12gb" --mode infer --json
    gpuplan advise resnet50 --gpu "rtx 3060 12gb" --target-batch 256 --dataset-size 1281167 --sample-bytes 110000
"""

from __future__ import annotations

import argparse
import re
import sys

from gpuplan.cli.main import add_common_options
from gpuplan.cli.workload_args import add_workload_options, workload_from_args
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30}


def parse_size(text: str, flag: str) -> int:
    """'110000', '110k', '110KB', '1.5MiB' -> bytes."""
    m = _SIZE.match(text)
    if not m or (m.group(2) or "").lower() not in _UNITS:
        raise UsageError(msg("{flag} {text}: expected bytes, e.g. 110000, 110kB, 1.5MiB.", flag=flag, text=repr(text)))
    n = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if n <= 0:
        raise UsageError(msg("{flag} {text}: must be positive.", flag=flag, text=repr(text)))
    return n


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("advise", help=tr("what to change so a model fits and runs fast on one GPU, with the code"),
                       description=tr("Search the settings that apply on one GPU (micro-batch + accumulation, mixed "
                       "precision where it is fast, checkpointing, lighter optimizers, LoRA/freezing, quantized "
                       "weights, smaller inputs as a last resort), re-predict each, rank those that fit by speed, "
                       "and print PyTorch code for the best."))
    add_workload_options(p)
    p.set_defaults(batch="auto")
    p.add_argument("--gpu", default=None, help=tr("the GPU to plan for (one catalog name, or a spec file)"))
    p.add_argument("--gpu-spec", metavar="FILE|k=v,...", help=tr("a card not in the catalog (as `gpuplan fit`)"))
    p.add_argument("--target-batch", type=int, metavar="B", help=tr("effective batch to keep (training: micro-batch × "
                   "accumulation steps); default: --batch × --grad-accum when --batch is a number, else the "
                   "largest batch each plan fits"))
    ft = p.add_mutually_exclusive_group()
    ft.add_argument("--finetune", action="store_true", default=None,
                    help=tr("fine-tuning a pretrained model: also try freezing, LoRA and QLoRA (default for "
                    "transformer and Hugging Face models)"))
    ft.add_argument("--from-scratch", dest="finetune", action="store_false",
                    help=tr("training from scratch: no freezing/LoRA"))
    p.add_argument("--top", type=int, default=5, metavar="N", help=tr("plans to show (default 5)"))
    p.add_argument("--budget", type=int, default=8, metavar="N", help=tr("at most N configurations are traced "
                   "(default 8; each costs 2-3 traces)"))
    p.add_argument("--currency", default="USD", help=tr("currency of GPU prices when nothing fits (USD, EUR, CNY)"))
    p.add_argument("--no-snippet", action="store_true", help=tr("do not print the PyTorch code"))
    g = p.add_argument_group("input pipeline (training)")
    g.add_argument("--decode-rate", type=float, metavar="N", help=tr("samples/s one CPU core decodes and augments "
                   "(default: measured here for image models, with PIL on a synthetic JPEG)"))
    g.add_argument("--no-measure", action="store_true", help=tr("do not run the local decode benchmark"))
    g.add_argument("--dataset-size", type=int, metavar="N", help=tr("samples in the dataset"))
    g.add_argument("--sample-bytes", metavar="SIZE", help=tr("stored bytes per sample (e.g. 110kB for an ImageNet JPEG)"))
    g.add_argument("--host-cpus", type=int, metavar="N", help=tr("CPU cores of the training machine (default: this one)"))
    g.add_argument("--host-ram-gib", type=float, metavar="GIB", help=tr("RAM of the training machine (default: this one)"))
    g.add_argument("--disk-mbps", type=float, metavar="MB/S", help=tr("sequential read rate of the dataset's disk"))
    g.add_argument("--remote-host", action="store_true", help=tr("the training machine is not this one: do not read "
                   "or measure the local machine (give --host-cpus/--host-ram-gib/--decode-rate)"))
    add_common_options(p)
    p.set_defaults(func=run)


def _validate(args: argparse.Namespace) -> None:
    for flag, value in (("--top", args.top), ("--budget", args.budget), ("--target-batch", args.target_batch),
                        ("--dataset-size", args.dataset_size), ("--host-cpus", args.host_cpus)):
        if value is not None and value <= 0:
            raise UsageError(msg("{flag} {value}: must be a positive integer.", flag=flag, value=value))
    for flag, fvalue in (("--decode-rate", args.decode_rate), ("--host-ram-gib", args.host_ram_gib),
                         ("--disk-mbps", args.disk_mbps)):
        if fvalue is not None and not fvalue > 0:
            raise UsageError(msg("{flag} {value}: must be a positive number.", flag=flag, value=fvalue))
    if bool(args.gpu) == bool(args.gpu_spec):
        raise UsageError(msg("give exactly one of --gpu NAME and --gpu-spec FILE."))
    if args.gpu and ("," in args.gpu or args.gpu.strip().lower() == "all"):
        raise UsageError(msg("--gpu {value}: advise plans for one GPU; to compare GPUs use `gpuplan fit --gpu "
                             "'a,b'` or `gpuplan recommend`.", value=repr(args.gpu)))


def run(args: argparse.Namespace) -> int:
    from gpuplan.advise.advisor import advise
    from gpuplan.advise.pipeline import (
        DecodeRate,
        check_pipeline,
        host_from,
        image_input_size,
        measure_decode_rate,
    )
    from gpuplan.advise.snippet import snippet
    from gpuplan.catalog import get_gpu
    from gpuplan.catalog.prices import check_currency
    from gpuplan.render.console import stdout_console
    from gpuplan.render.jsonout import dumps
    from gpuplan.workload.spec import Mode
    from gpuplan.workload.zoo import resolve_model

    _validate(args)
    w, auto = workload_from_args(args)
    currency = check_currency(args.currency.upper(), "--currency")
    sample_bytes = parse_size(args.sample_bytes, "--sample-bytes") if args.sample_bytes else None
    target = args.target_batch
    if target is None and not auto and w.mode is Mode.TRAIN:
        target = w.batch * w.grad_accum
    gpu = get_gpu((args.gpu or args.gpu_spec).strip())
    context = int(args.context_mib * 2**20) if args.context_mib is not None else None
    status = None
    progress = None
    if sys.stderr.isatty() and not args.json:
        from rich.console import Console

        status = Console(stderr=True).status(tr("tracing…"))
        status.start()

        def progress(what: str) -> None:
            status.update(tr("trying {what}…", what=what))
    try:
        advice = advise(w, gpu, target_batch=target, finetune=args.finetune, top=args.top, budget=args.budget,
                        context_bytes=context, currency=currency, progress=progress)
    finally:
        if status is not None:
            status.stop()
    best = advice.plans[0] if advice.plans else None
    if best is not None and w.mode is Mode.TRAIN:
        local = None
        if not args.remote_host:
            from gpuplan.system.host import collect_host

            local = collect_host()
        host = host_from(local, cpus=args.host_cpus, ram_gib=args.host_ram_gib, disk_mbps=args.disk_mbps)
        rate = DecodeRate(args.decode_rate, "given") if args.decode_rate is not None else None
        if rate is None and not args.no_measure and not args.remote_host:
            spec = resolve_model(w)
            size = image_input_size([i.shape for i in (w.inputs or spec.inputs)])
            if size is not None:
                rate = measure_decode_rate(size)
        needed = best.time.samples_per_second if best.time is not None else None
        advice.pipeline = check_pipeline(needed, host, rate, dataset_size=args.dataset_size, sample_bytes=sample_bytes)
    if best is not None:
        workers = None
        if advice.pipeline is not None and advice.pipeline.workers is not None:
            workers = min(8, advice.pipeline.workers)
        advice.snippet = snippet(best.workload, finetune=advice.finetune, workers=workers,
                                 title=f"gpuplan advise: plan 1 for {w.model} on {gpu.name}",
                                 deepspeed_config=best.engine_files.get("ds_config.json"))
    if args.json:
        print(dumps(advice))
        return 0
    from gpuplan.render.advise_text import print_advice

    print_advice(advice, stdout_console(no_color=args.no_color), show_snippet=not args.no_snippet)
    return 0
