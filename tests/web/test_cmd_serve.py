"""`gpuplan serve`: --port 0 prints the URL it listens on, a non-loopback --host warns, bad options exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from gpuplan.cli.main import main


@pytest.mark.slow
def test_port_0_serves_and_prints_the_url() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gpuplan", "serve", "--port", "0", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the worker is ready
        info = json.loads(line)
        assert info["host"] == "127.0.0.1" and info["port"] > 0
        assert info["url"] == f"http://127.0.0.1:{info['port']}/"
        with urllib.request.urlopen(info["url"] + "api/health", timeout=30) as r:
            health = json.loads(r.read())
        assert health["ok"] is True and health["workers_ready"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "warning" not in proc.stderr.read()


def test_a_non_loopback_host_warns_before_binding(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import gpuplan.web.server as server

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(server, "make_server", refuse)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8765"]) == 2
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0" in err and "cannot listen on 0.0.0.0:8765" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_options_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
