"""Progress bars on stderr for work that takes more than a second (tracing, sweeps, ``--gpu all``).

    >>> from gpuplan.render.progress import progress
    >>> with progress("tracing", total=3, enabled=False) as bar:
    ...     for name in ("a", "b", "c"):
    ...         bar.advance(description=name)

A bar shows only when stderr is a terminal and the command is not writing JSON (``enabled=None``
decides that: ``progress(..., json_output=args.json)``); otherwise every call is a no-op, so
library code can report progress unconditionally. ``bar.callback`` adapts a bar to the
``progress(name)`` callback of :func:`gpuplan.api.fit_many`: one step per GPU.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressSink(Protocol):
    """What computation code may call; the no-op and the rich bar both implement it."""

    def advance(self, steps: int = 1, *, description: str | None = None) -> None: ...

    def describe(self, description: str) -> None: ...

    def add_total(self, steps: int) -> None: ...


class NullProgress:
    """A progress sink that does nothing (no terminal, JSON output, tests, the web worker)."""

    def advance(self, steps: int = 1, *, description: str | None = None) -> None:
        return None

    def describe(self, description: str) -> None:
        return None

    def add_total(self, steps: int) -> None:
        return None

    @property
    def callback(self) -> Callable[[str], None]:
        return lambda name: None


class RichProgress:
    """One rich task: a spinner, the description, a bar with ``done/total`` and the elapsed time."""

    def __init__(self, bar: Progress, description: str, total: int | None) -> None:
        self._bar = bar
        self._task = bar.add_task(description, total=total)

    def advance(self, steps: int = 1, *, description: str | None = None) -> None:
        if description is None:
            self._bar.advance(self._task, steps)
        else:
            self._bar.update(self._task, advance=steps, description=description)

    def describe(self, description: str) -> None:
        self._bar.update(self._task, description=description)

    def add_total(self, steps: int) -> None:
        task = self._bar.tasks[self._task]
        self._bar.update(self._task, total=(task.total or 0) + steps)

    @property
    def callback(self) -> Callable[[str], None]:
        """A ``progress(name)`` callback (fit_many's): describe the GPU being predicted, then advance."""

        def step(name: str) -> None:
            self.advance(description=name)

        return step


def should_show(*, json_output: bool = False, stream: object = None) -> bool:
    """A bar only on an interactive stderr and never with JSON output."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(not json_output and callable(isatty) and isatty())


@contextmanager
def progress(description: str, *, total: int | None = None, enabled: bool | None = None,
             json_output: bool = False) -> Iterator[RichProgress | NullProgress]:
    """A progress bar for the duration of the block (a no-op sink when not shown).

    ``total=None`` shows a spinner without a bar length until :meth:`add_total` is called.
    The bar is transient: it disappears when the block ends, leaving the terminal clean.
    """
    show = should_show(json_output=json_output) if enabled is None else enabled
    if not show:
        yield NullProgress()
        return
    bar = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
    with bar:
        yield RichProgress(bar, description, total)
