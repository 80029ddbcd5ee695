"""`gpuplan` command line: a thin layer that parses options, calls the API and renders results.

Each subcommand lives in its own module ``gpuplan.cli.cmd_<name>`` exposing
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int``.
Errors meant for the user (``GpuplanError``) go to stderr with their exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from gpuplan import __version__
from gpuplan.errors import GpuplanError
from gpuplan.i18n import tr

# Order = order in `gpuplan --help`.
COMMAND_MODULES = [
    "gpus",
    "gpu",
    "fit",
    "compare",
    "advise",
    "recommend",
    "plan",
    "report",
    "serve",
    "doctor",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpuplan",
        description="Can this GPU run my model? Fit, speed, advice and GPU choice for PyTorch models, "
        "answered without the GPU.",
    )
    parser.add_argument("--version", action="version", version=f"gpuplan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"gpuplan.cli.cmd_{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        _set_language(getattr(args, "lang", None))
        return int(args.func(args) or 0)
    except GpuplanError as err:
        print(tr("gpuplan: error: {err}", err=str(err)), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(tr("gpuplan: interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _set_language(lang: str | None) -> None:
    from gpuplan.errors import UsageError
    from gpuplan.i18n import msg, set_language

    try:
        set_language(lang)
    except ValueError as err:
        raise UsageError(msg("--lang: {err}", err=str(err))) from None


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options every subcommand has."""
    p.add_argument("--json", action="store_true", help="print the result as JSON (same records as the Python API)")
    p.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    p.add_argument("--lang", metavar="en|zh", default=None,
                   help="language of the text output (default: $GPUPLAN_LANG, else en); JSON keys never change")


if __name__ == "__main__":
    sys.exit(main())
