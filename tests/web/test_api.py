"""`gpuplan serve` over HTTP (urllib against a live server on a free port): the page, the JSON API, the
fit contract, and every refusal (code-like names, oversize bodies, wrong types, foreign Host, time limit)."""

from __future__ import annotations

import http.client
import json
import re
import socket
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from gpuplan.cli.main import main
from gpuplan.web.server import GpuplanServer, search_gpus

TINY_LLAMA = (Path(__file__).resolve().parents[1] / "fixtures" / "tiny_llama_gqa.json").read_text()


def test_page_is_one_offline_file_with_a_strict_policy(base: str, web: SimpleNamespace) -> None:
    r = web.request(base)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.body.decode()
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in html and "default-src 'none'" in csp
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert 'id="gpu-search"' in html and 'id="model-select"' in html and 'id="config-file"' in html
    assert "{{" not in html and "__" not in re.sub(r"[a-z]__|__[a-z]", "", html.split("<script")[0])
    i18n = json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html, re.S).group(1))
    assert i18n["Pick a GPU first."] == "Pick a GPU first."


def test_gpu_search_and_model_list(base: str, web: SimpleNamespace) -> None:
    gpus = web.request(base + "api/gpus?q=3060%2012").json()["gpus"]
    assert [g["name"] for g in gpus] == ["GeForce RTX 3060 12GB"]
    assert len(web.request(base + "api/gpus?q=rtx").json()["gpus"]) == 25  # capped
    assert web.request(base + "api/gpus?q=zzzz").json()["gpus"] == []
    groups = {g["id"]: g["models"] for g in web.request(base + "api/models").json()["groups"]}
    assert "lenet5" in groups["seed"] and "resnet50" in groups["torchvision"]
    assert "meta-llama/Llama-2-7b-hf" in groups["huggingface"]
    assert [g["name"] for g in search_gpus("a100 80")][:2] == ["A100 80GB PCIe", "A100 80GB SXM4"]


def test_fit_returns_the_fit_json_and_the_charts(base: str, capsys: pytest.CaptureFixture[str],
                                                 web: SimpleNamespace) -> None:
    r = web.post_json(base, {"model": "lenet5", "gpu": "GTX 760", "batch": 64})
    assert r.status == 200, r.body
    obj = r.json()
    assert main(["fit", "lenet5", "--gpu", "GTX 760", "--batch", "64", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    strip = lambda o: {k: v for k, v in o.items() if k != "trace_seconds"}  # noqa: E731
    assert strip(obj["fit"]) == strip(expected)
    assert set(obj["charts"]) == {"breakdown", "sweep", "timeline", "op_classes"}
    assert all(svg.startswith("<svg") for svg in obj["charts"].values())
    assert "<section" in obj["html"] and obj["report"]["fits"][0]["gpu"]["name"] == "GeForce GTX 760"


def test_an_uploaded_config_is_traced(base: str, web: SimpleNamespace) -> None:
    r = web.post_json(base, {"config": TINY_LLAMA, "gpu": "rtx 3060 12gb", "batch": 2, "seq_len": 32})
    assert r.status == 200, r.body
    fit = r.json()["fit"]
    assert fit["model"] == "config.json (llama)" and fit["fits"] is True
    assert r.json()["report"]["workload"]["hf_config"] == "config.json"
    assert "gpuplan-serve-" not in r.body.decode()  # the server's temporary path does not leak


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "os.path:join", "gpu": "GTX 760"}, "never imported"),
        ({"model": "/tmp/evil.py:build", "gpu": "GTX 760"}, "never imported"),
        ({"model": "lenet5", "gpu": "GTX 760", "precision": "fp64"}, "precision"),
        ({"model": "lenet5", "gpu": "GTX 760", "batch": -3}, "batch"),
        ({"model": "lenet5", "gpu": "x=1,memory_gib=99"}, "no spec files"),
        ({"model": "lenet5", "gpu": "GTX 760", "shell": "rm -rf /"}, "Unknown field"),
        ({"config": '{"model_type": "nope", "architectures": ["X"]}', "gpu": "GTX 760"}, "model_type"),
    ],
)
def test_bad_requests_get_400_with_the_reason(base: str, body: dict, needle: str, web: SimpleNamespace) -> None:
    r = web.post_json(base, body)
    assert r.status == 400 and needle in r.json()["error"]


def test_protocol_refusals(base: str, live_server: GpuplanServer, web: SimpleNamespace) -> None:
    url = base + "api/fit"
    assert web.request(url, method="POST", body=b"{}", headers={"Content-Type": "text/plain"}).status == 415
    assert web.request(url, method="POST", body=b"{nope", headers={"Content-Type": "application/json"}).status == 400
    assert web.request(base + "api/nothing").status == 404
    assert web.request(base + "api/other", method="POST", body=b"{}",
                   headers={"Content-Type": "application/json"}).status == 404
    host, port = live_server.server_address[:2]
    for headers, status in (({}, 411), ({"Content-Length": str(600 * 1024)}, 413),
                            ({"Transfer-Encoding": "chunked"}, 411)):
        conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
        conn.putrequest("POST", "/api/fit")
        conn.putheader("Content-Type", "application/json")
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()  # the body is refused from the headers alone, before it is read
        reply = conn.getresponse()
        assert reply.status == status and json.loads(reply.read())["error"]
        conn.close()
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    conn.request("GET", "/api/models", headers={"Host": "evil.example:80"})  # DNS rebinding
    assert conn.getresponse().status == 403
    conn.close()


def test_a_slow_client_is_cut_off(live_server: GpuplanServer) -> None:
    host, port = live_server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=30) as s:
        s.sendall(b"POST /api/fit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        s.settimeout(30)
        assert s.recv(100) == b""  # closed by the server after its 15 s read timeout, no answer


@pytest.mark.slow
def test_a_prediction_past_the_time_limit_is_stopped_and_the_worker_replaced(web: SimpleNamespace) -> None:
    server = web.start(workers=1, timeout=2.0)
    try:
        r = web.post_json(server.url, {"model": "meta-llama/Llama-2-7b-hf", "gpu": "a100 80gb", "batch": 1})
        assert r.status == 504 and "stopped" in r.json()["error"]
        # a fresh worker replaces the killed one (the request waits for it to start), then answers
        r = web.post_json(server.url, {"model": "mlp", "gpu": "gtx 760", "batch": 8}, timeout=240)
        assert r.status == 200, r.body
        assert urlsplit(server.url).hostname == "127.0.0.1"
    finally:
        web.stop(server)
