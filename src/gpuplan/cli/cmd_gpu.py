"""`gpuplan gpu NAME`: specs, features, compatibility, install command and a plain-words verdict.

    gpuplan gpu "gtx 760"
    gpuplan gpu a100-80g --json
    gpuplan gpu --gpu-spec my_card.yaml
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpuplan.catalog import compat_report, features, get_gpu, verdict
from gpuplan.catalog.spec import parse_gpu_spec
from gpuplan.catalog.types import GPU
from gpuplan.cli.main import add_common_options
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr
from gpuplan.render.console import stdout_console
from gpuplan.render.gpu_text import gpu_sections, print_sections, title_line
from gpuplan.render.jsonout import dumps, to_jsonable


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gpu", help=tr("one GPU: specs, features, compatibility, install command, verdict"),
        description=tr("Everything about one GPU: specs, hardware features, which CUDA/PyTorch/TensorFlow/JAX "
                    "versions run on it, the install command, and what deep learning work it suits."),
    )
    p.add_argument("name", nargs="?", help=tr('GPU name, forgiving ("gtx760", "rtx 3060 12gb", "a100 80g"), '
                                           "or a .yaml/.json spec file"))
    p.add_argument("--gpu-spec", metavar="FILE|k=v,...",
                   help=tr("a card not in the catalog: YAML/JSON file or inline 'name=...,memory_gib=...,...'"))
    p.add_argument("--no-local-torch", action="store_true",
                   help=tr("do not check the locally installed torch build against the GPU"))
    add_common_options(p)
    p.set_defaults(func=run)


def gpu_json(gpu: GPU, local_torch: bool = True) -> dict[str, Any]:
    """The JSON object of `gpuplan gpu --json` (contract: GPU fields + features + compat + verdict)."""
    feats = features(gpu)
    compat = compat_report(gpu, local_torch=local_torch)
    data = to_jsonable(gpu)
    data["memory_gib"] = gpu.memory_gib
    data["features"] = to_jsonable(feats)
    data["compat"] = to_jsonable(compat)
    data["verdict"] = verdict(gpu, compat, feats)
    return data


def _pick(args: argparse.Namespace) -> GPU:
    if args.gpu_spec:
        return parse_gpu_spec(args.gpu_spec)
    if not args.name:
        raise UsageError(msg("give a GPU name or --gpu-spec FILE"), hint=msg("Run `gpuplan gpus` to list the catalog."))
    return get_gpu(args.name)


def run(args: argparse.Namespace) -> int:
    gpu = _pick(args)
    local = not args.no_local_torch
    if args.json:
        sys.stdout.write(dumps(gpu_json(gpu, local_torch=local)) + "\n")
        return 0
    feats = features(gpu)
    compat = compat_report(gpu, local_torch=local)
    sections = gpu_sections(gpu, feats, compat, verdict(gpu, compat, feats))
    print_sections(stdout_console(no_color=args.no_color), title_line(gpu), sections)
    return 0
