"""A live `gpuplan serve` server on a free loopback port (one per test session), and small HTTP helpers."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from gpuplan.web.server import GpuplanServer, make_server


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(url: str, *, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 120.0) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read())


def post_json(base: str, obj: Any, **kw: Any) -> Reply:
    return request(base + "api/fit", method="POST", body=json.dumps(obj).encode(),
                   headers={"Content-Type": "application/json"}, **kw)


def start(**kw: Any) -> GpuplanServer:
    server = make_server("127.0.0.1", 0, **kw)
    threading.Thread(target=server.serve_forever, daemon=True, name="gpuplan-test-server").start()
    assert server.pool.wait_ready(240), "the prediction worker did not start"
    return server


def stop(server: GpuplanServer) -> None:
    server.shutdown()
    server.server_close()
    server.pool.close()


@pytest.fixture(scope="session")
def live_server() -> Iterator[GpuplanServer]:
    server = start(workers=1, timeout=120.0)
    yield server
    stop(server)


@pytest.fixture
def base(live_server: GpuplanServer) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def web() -> SimpleNamespace:
    """The helpers above: ``web.request``, ``web.post_json``, ``web.start``, ``web.stop``."""
    return SimpleNamespace(request=request, post_json=post_json, start=start, stop=stop)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: end-to-end tests in headless Chromium (skipped locally without it)")
