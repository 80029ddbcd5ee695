"""Shared test fixtures.

``golden(name, text)`` compares ``text`` with ``tests/golden/<name>.out`` (``name`` may contain ``/``,
e.g. ``"gpu/gtx760"``). Regenerate with ``pytest --overwrite-golden`` (or ``GPUPLAN_UPDATE_GOLDEN=1``),
then review the diff like any code change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.out files with the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(name, text)``: assert ``text`` equals ``tests/golden/<name>.out`` (or rewrite it)."""
    overwrite = bool(request.config.getoption("--overwrite-golden")) or bool(os.environ.get("GPUPLAN_UPDATE_GOLDEN"))

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / f"{name}.out"
        if overwrite:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; create it with `pytest --overwrite-golden` and review it")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path} (`pytest --overwrite-golden` rewrites it)"

    return check


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts in English (a shell's GPUPLAN_LANG is ignored) and leaves no language behind
    (``gpuplan ... --lang zh`` sets the process language)."""
    from gpuplan.i18n import set_language

    monkeypatch.delenv("GPUPLAN_LANG", raising=False)
    set_language(None)
    yield
    set_language(None)
