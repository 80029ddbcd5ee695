"""`gpuplan serve`: a local web page to pick a GPU and a model and see the fit, memory and speed with charts.

    gpuplan serve                       # http://127.0.0.1:8765/
    gpuplan serve --port 0              # any free port (the URL is printed)
    gpuplan serve --host 0.0.0.0        # reachable from the network (a warning is printed)
"""

from __future__ import annotations

import argparse
import sys

from gpuplan.cli.main import add_common_options
from gpuplan.errors import UsageError
from gpuplan.i18n import msg, tr


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help=tr("a local web page: pick a GPU and a model, see the results and charts"),
                       description=tr("Serve a web page (and a small JSON API) over the predictions. Only zoo models "
                       "and uploaded Hugging Face config.json files are accepted; no code from a request is run."))
    p.add_argument("--host", default="127.0.0.1", help=tr("address to bind (default 127.0.0.1: this machine only)"))
    p.add_argument("--port", type=int, default=8765, help=tr("port (default 8765; 0 picks a free one)"))
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help=tr("predictions that may run at the same time, each in its own process (default 1)"))
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help=tr("stop a prediction that takes longer (default 120)"))
    p.add_argument("--verbose", action="store_true", help=tr("log every request to stderr"))
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpuplan.i18n import current_language, tr
    from gpuplan.render.progress import progress
    from gpuplan.web.server import LOOPBACK, make_server

    if not 0 <= args.port <= 65535:
        raise UsageError(msg("--port {n}: must be from 0 to 65535.", n=args.port))
    if not 1 <= args.workers <= 8:
        raise UsageError(msg("--workers {n}: must be from 1 to 8.", n=args.workers))
    if not 1 <= args.timeout <= 3600:
        raise UsageError(msg("--timeout {s}: must be from 1 to 3600 seconds.", s=f"{args.timeout:g}"))
    if args.host not in LOOPBACK:
        print(tr("warning: serving on {host}: anyone who can reach this address can use the page and its CPU. "
                 "The default 127.0.0.1 keeps it on this machine.", host=args.host), file=sys.stderr)
    try:
        server = make_server(args.host, args.port, workers=args.workers, timeout=args.timeout,
                             lang=current_language(), quiet=not args.verbose)
    except OSError as e:
        raise UsageError(msg("cannot listen on {host}:{port}: {err}.", host=args.host, port=args.port, err=e.strerror or str(e))) from None
    with progress(tr("starting the prediction worker"), json_output=args.json):
        server.pool.wait_ready()
    if args.json:
        import json

        print(json.dumps({"url": server.url, "host": args.host, "port": server.server_address[1]}), flush=True)
    else:
        print(tr("gpuplan is serving on {url} (Ctrl+C stops it)", url=server.url), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.pool.close()
    return 0
