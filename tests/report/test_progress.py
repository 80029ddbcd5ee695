"""Progress bars: shown only on an interactive stderr and never with JSON; the same calls are no-ops otherwise."""

from __future__ import annotations

import io

import pytest

from gpuplan.render.progress import NullProgress, RichProgress, progress, should_show


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_shown_only_on_a_terminal_without_json() -> None:
    assert should_show(stream=_Tty()) is True
    assert should_show(stream=_Tty(), json_output=True) is False
    assert should_show(stream=io.StringIO()) is False


def test_disabled_progress_is_a_no_op_sink() -> None:
    with progress("work", total=3, enabled=False) as bar:
        assert isinstance(bar, NullProgress)
        bar.advance(description="a")
        bar.describe("b")
        bar.add_total(2)
        bar.callback("GPU")


def test_enabled_progress_counts_steps(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("work", total=None, enabled=True) as bar:
        assert isinstance(bar, RichProgress)
        bar.add_total(3)
        bar.advance()
        bar.callback("GeForce GTX 760")  # fit_many's progress(name) callback
        task = bar._bar.tasks[0]
        assert task.total == 3 and task.completed == 2 and task.description == "GeForce GTX 760"
    assert capsys.readouterr().out == ""  # never on stdout
