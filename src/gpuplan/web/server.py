"""``gpuplan serve``: a local web page to pick a GPU and a model and see the report's results and charts.

Endpoints (JSON unless noted):

- ``GET /`` — the page (one HTML file, inline CSS and JS, no CDN), in the server's language or ``?lang=zh``.
- ``GET /api/gpus?q=rtx 30`` — catalog GPUs matching the query (at most 25).
- ``GET /api/models`` — the zoo allow-list by group.
- ``GET /api/health`` — ``{"ok": true, "workers_ready": n}``.
- ``POST /api/fit`` — body ``{"model": "resnet50" | "config": "<config.json text>", "gpu": "...", "mode",
  "precision", "optimizer", "batch": int | "auto", "seq_len", "checkpointing", "lang"}`` →
  ``{"fit": <the fit --json object>, "report": <report JSON>, "charts": {name: svg}, "html": "..."}``.

Safety: request bodies are bounded (``Content-Length`` required, at most 512 KiB), every field is
validated (:mod:`gpuplan.web.validate`), nothing named in a request is imported or executed, each
prediction runs in a worker process killed after ``timeout`` seconds, at most ``workers`` run at a
time, a slow client is cut off after 15 s, and on the default loopback address requests must carry a
loopback ``Host`` header (no DNS rebinding). Pages carry a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gpuplan.errors import UsageError
from gpuplan.i18n import current_language, msg, normalize, tr
from gpuplan.web.validate import MAX_BODY_BYTES, allowed_models, parse_fit_request
from gpuplan.web.worker import Busy, JobTimeout, JobUserError, WorkerFailed, WorkerPool

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_GPU_RESULTS = 25

# strings the page's script shows (the server sends their translations with the page)
PAGE_JS_MESSAGES = [
    "Type a GPU name, e.g. 3060, T4 or A100.",
    "No GPU matches {q}.",
    "Selected GPU: {name}",
    "Pick a GPU first.",
    "Pick a model from the zoo or upload a config.json.",
    "Predicting… {s} s (tracing one step of the model)",
    "Done in {s} s.",
    "Error: {msg}",
    "The server did not answer ({status}).",
    "Reading {name}…",
    "{name} ({kib} KiB) loaded.",
]


def search_gpus(q: str, limit: int = MAX_GPU_RESULTS) -> list[dict[str, Any]]:
    """Catalog GPUs whose name or aliases contain every token of ``q`` (all of them for an empty query)."""
    from gpuplan.catalog import load_catalog
    from gpuplan.catalog.lookup import tokens

    want = [t for t in tokens(q) if t not in ("nvidia", "geforce", "amd", "radeon")]
    out = []
    for g in load_catalog():
        hay = " ".join([g.name, *g.aliases]).lower()
        have = set(tokens(hay))
        if all(t in have or any(h.startswith(t) for h in have) for t in want):
            out.append(g)
    out.sort(key=lambda g: (len(g.name), g.name))
    return [{"name": g.name, "vendor": g.vendor, "architecture": g.architecture, "memory_bytes": g.memory_bytes,
             "compute_capability": g.compute_capability} for g in out[:limit]]


def page_html(lang: str, nonce: str) -> str:
    """The page in ``lang``: ``{{English text}}`` in the template becomes the translation, escaped."""
    from gpuplan.report.html import CSS
    from gpuplan.workload.spec import OptimizerKind, Precision

    template = resources.files("gpuplan.web").joinpath("static/index.html").read_text(encoding="utf-8")
    table = {m: tr(m, lang=lang) for m in PAGE_JS_MESSAGES}
    script_json = json.dumps(table, ensure_ascii=False).replace("</", "<\\/")
    options = {
        "__PRECISION_OPTIONS__": "".join(f'<option value="{p.value}">{p.value}</option>' for p in Precision),
        "__OPTIMIZER_OPTIONS__": "".join(
            f'<option value="{o.value}"{" selected" if o is OptimizerKind.ADAMW else ""}>{o.value}</option>'
            for o in OptimizerKind),
    }
    html = re.sub(r"\{\{(.+?)\}\}", lambda m: escape(tr(m.group(1), lang=lang)), template, flags=re.S)
    for key, value in options.items():
        html = html.replace(key, value)
    return (html.replace("__REPORT_CSS__", CSS).replace("__I18N_JSON__", script_json)
            .replace("__LANG__", "zh-Hans" if lang == "zh" else "en").replace("__NONCE__", nonce))


class GpuplanServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], pool: WorkerPool, *, lang: str | None = None,
                 check_host: bool = True, quiet: bool = True) -> None:
        super().__init__(address, Handler)
        self.pool = pool
        self.lang = lang or current_language()
        self.check_host = check_host
        self.quiet = quiet

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: GpuplanServer
    server_version = "gpuplan"
    sys_version = ""
    timeout = 15  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------ plumbing

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def _lang(self, query: dict[str, list[str]]) -> str:
        want = (query.get("lang") or [None])[0]
        if want:
            try:
                return normalize(want)
            except ValueError:
                return self.server.lang
        return self.server.lang

    def _host_ok(self) -> bool:
        if not self.server.check_host:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in LOOPBACK

    # ------------------------------------------------------------ routes

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, tr("Host header is not a loopback name."))
            return
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, max_num_fields=10)
        lang = self._lang(query)
        if parts.path in ("/", "/index.html"):
            nonce = secrets.token_urlsafe(16)
            csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
                   "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
            self._send(HTTPStatus.OK, page_html(lang, nonce).encode("utf-8"), "text/html; charset=utf-8",
                       {"Content-Security-Policy": csp})
        elif parts.path == "/api/gpus":
            q = (query.get("q") or [""])[0][:100]
            self._json(HTTPStatus.OK, {"query": q, "gpus": search_gpus(q)})
        elif parts.path == "/api/models":
            self._json(HTTPStatus.OK, {"groups": [
                {"id": k, "label": tr(label, lang=lang), "models": v} for (k, v), label in
                zip(allowed_models().items(), (msg("Seed examples"), msg("Hugging Face configs (shipped)"),
                                               msg("torchvision classifiers")), strict=True)]})
        elif parts.path == "/api/health":
            self._json(HTTPStatus.OK, {"ok": True, "workers_ready": self.server.pool._idle.qsize()})
        else:
            self._error(HTTPStatus.NOT_FOUND, tr("Not found: {path}", lang=lang, path=parts.path[:100]))

    def do_POST(self) -> None:
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, tr("Host header is not a loopback name."))
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        lang = self.server.lang
        if parts.path != "/api/fit":
            self._error(HTTPStatus.NOT_FOUND, tr("Not found: {path}", lang=lang, path=parts.path[:100]))
            self.close_connection = True
            return
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self.close_connection = True
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, tr("Send the request as application/json.", lang=lang))
            return
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, tr("Send a Content-Length (no chunked bodies).", lang=lang))
            return
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text or "")
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, tr("Send a Content-Length (no chunked bodies).", lang=lang))
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        tr("The request is {kib} KiB; the limit is {lim} KiB.", lang=lang, kib=length // 1024,
                           lim=MAX_BODY_BYTES // 1024))
            return
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._error(HTTPStatus.BAD_REQUEST, tr("The request body is not valid JSON.", lang=lang))
            return
        try:
            req = parse_fit_request(body)
        except UsageError as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e))
            return
        try:
            result = self.server.pool.run(req)
        except JobUserError as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e))
        except Busy:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE,
                        tr("The server is busy with other predictions; try again in a minute.", lang=req.lang))
        except JobTimeout:
            self._error(HTTPStatus.GATEWAY_TIMEOUT,
                        tr("The prediction took longer than {s} s and was stopped.", lang=req.lang,
                           s=f"{self.server.pool.timeout:g}"))
        except WorkerFailed as e:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                        tr("The prediction failed: {err}", lang=req.lang, err=str(e)[:300]))
        else:
            self._json(HTTPStatus.OK, result)


def make_server(host: str = "127.0.0.1", port: int = 0, *, workers: int = 1, timeout: float = 120.0,
                lang: str | None = None, quiet: bool = True) -> GpuplanServer:
    """A server bound to (host, port) with its worker pool started (``port=0``: a free port)."""
    from gpuplan.web.validate import _known_architectures, _known_model_types

    pool = WorkerPool(workers, timeout=timeout)
    # the allow-lists (torchvision, transformers) load while the worker starts, not on the first request
    allowed_models()
    _known_architectures()
    _known_model_types()
    try:
        return GpuplanServer((host, port), pool, lang=lang, check_host=host in LOOPBACK, quiet=quiet)
    except OSError:
        pool.close()
        raise
