"""`gpuplan doctor`: check this machine's NVIDIA driver, GPUs, installed torch build and resources.

    gpuplan doctor                 # text report; exit 0 whenever the check ran, even with findings
    gpuplan doctor --json          # the same DoctorReport as JSON
    gpuplan doctor --path /data    # measure free disk where your datasets/checkpoints live

No driver / no GPU is a normal answer (exit 0). Exit 1 only if doctor itself fails.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from gpuplan.cli.main import add_common_options
from gpuplan.errors import GpuplanError
from gpuplan.i18n import msg, tr


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "doctor",
        help=tr("check this machine: NVIDIA driver, GPUs, torch build vs. each GPU, CPU/RAM/disk"),
        description=tr("Check whether PyTorch can use this machine's GPUs: NVIDIA driver and the CUDA "
        "version it supports, each GPU's compute capability against the installed torch build's "
        "kernels, and host CPU cores, RAM and free disk. Each problem comes with a fix. "
        "A machine without a driver or GPU is a normal answer (exit code 0)."),
    )
    add_common_options(p)
    p.add_argument(
        "--path",
        default=".",
        metavar="DIR",
        help=tr("directory whose free disk space to report (default: the current directory)"),
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.render.console import stderr_console, stdout_console
    from gpuplan.system.doctor import collect_doctor

    # Importing torch takes a second or two: say what is happening on an interactive terminal.
    status = (
        stderr_console().status(tr("Checking driver, GPUs and the torch build…"))
        if sys.stderr.isatty() and not args.json
        else contextlib.nullcontext()
    )
    try:
        with status:
            report = collect_doctor(disk_path=args.path)
    except GpuplanError:
        raise
    except Exception as err:  # a bug in doctor, not a finding about the machine
        raise GpuplanError(
            msg("doctor failed: {error}", error=f"{type(err).__name__}: {err}"),
            hint=msg("Please report this with the output of `python -m gpuplan doctor --json` if it runs."),
        ) from err

    if args.json:
        from gpuplan.render.jsonout import dumps

        print(dumps(report))
    else:
        from gpuplan.render.doctor_text import print_doctor

        print_doctor(report, stdout_console(no_color=args.no_color))
    return 0
