"""The one place that decides how text reaches the terminal: rich on a TTY, plain when piped."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def stdout_console(*, no_color: bool = False) -> Console:
    """A console for results: colours and box tables on a terminal, plain text when piped."""
    is_tty = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        force_terminal=is_tty,
        no_color=no_color or not is_tty or "NO_COLOR" in os.environ,
        highlight=False,
        width=None if is_tty else 120,
        soft_wrap=not is_tty,
    )


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, no_color=not sys.stderr.isatty())


def fmt_bytes(n: float | None, *, unit: str = "auto") -> str:
    """Format bytes in IEC units (GiB = 2**30 bytes); None -> 'N/A'."""
    if n is None:
        return "N/A"
    if unit == "auto":
        for u, p in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if abs(n) >= 2**p:
                return f"{n / 2**p:.2f} {u}"
        return f"{int(n)} B"
    p = {"GiB": 30, "MiB": 20, "KiB": 10, "B": 0}[unit]
    return f"{n / 2**p:.2f} {unit}"


def fmt_num(x: float | None, digits: int = 1, suffix: str = "") -> str:
    if x is None:
        return "N/A"
    return f"{x:,.{digits}f}{suffix}"


def fmt_seconds(x: float | None) -> str:
    """A duration as people read it: µs below a millisecond, ms below a second, else s; N/A when unknown."""
    if x is None:
        return "N/A"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"
