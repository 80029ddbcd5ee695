"""Read the catalog's data files (CSV shipped inside the package)."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources


@cache
def read_csv(name: str) -> tuple[dict[str, str], ...]:
    """Rows of ``catalog/data/<name>`` as dicts of stripped strings (empty string = unknown)."""
    text = resources.files("gpuplan.catalog").joinpath("data", name).read_text(encoding="utf-8")
    return tuple(
        {k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))
    )


def split_list(cell: str, sep: str = ";") -> tuple[str, ...]:
    """``"a; b;c"`` -> ``("a", "b", "c")``; empty cell -> ``()``."""
    return tuple(p.strip() for p in cell.split(sep) if p.strip())


def source_keys(cell: str) -> tuple[str, ...]:
    """The parts of a ``source`` cell, one per cited source: split at ``;`` outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in cell:
        depth += (ch == "(") - (ch == ")")
        if ch == ";" and depth <= 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return tuple(p.strip() for p in parts if p.strip())
