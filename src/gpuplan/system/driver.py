"""CUDA toolkit -> minimum NVIDIA driver, read from the catalog's tables.

Data: ``gpuplan/catalog/data/cuda_drivers.csv`` and ``cuda_minor_compat.csv`` (owned by the catalog;
sources: shared data/compat.md §2.2, CUDA 13.2 Update 2 release notes [CUDA-RN-13.2.2]).

Two floors matter for a PyTorch wheel built with CUDA X.Y (it bundles its own CUDA runtime):

* the toolkit's own minimum driver (Table 3 of the CUDA release notes), e.g. 13.0 GA -> 580.65.06
  on Linux: at or above it everything works;
* the minor-version-compatibility floor of the major (Table 2): 13.x >= 580, 12.x >= 525,
  11.x >= 450 (Linux). Between the two the build runs, but features that need the newer driver,
  notably JIT-compiling PTX emitted by the newer toolkit, can fail.
"""

from __future__ import annotations

import csv
import enum
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "DriverCheck",
    "DriverVerdict",
    "check_driver",
    "min_driver_for_cuda",
    "minor_compat_floor",
    "parse_driver_version",
]


def parse_driver_version(text: str) -> tuple[int, ...] | None:
    """ "580.65.06" -> (580, 65, 6); None when it is not a dotted number."""
    try:
        return tuple(int(p) for p in text.strip().split("."))
    except ValueError:
        return None


def _cuda_key(cuda: str) -> tuple[int, int] | None:
    parts = cuda.strip().split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


def _read(name: str) -> tuple[dict[str, str], ...]:
    try:
        text = resources.files("gpuplan.catalog").joinpath("data", name).read_text("utf-8")
    except OSError:  # table missing: every driver verdict becomes UNKNOWN instead of a crash
        return ()
    return tuple({k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(text.splitlines()))


@cache
def _rows() -> tuple[dict[str, str], ...]:
    return _read("cuda_drivers.csv")


@cache
def _floors() -> tuple[dict[str, str], ...]:
    return _read("cuda_minor_compat.csv")


def _column(system: str) -> str:
    return "min_driver_windows" if system.lower().startswith("win") else "min_driver_linux"


def min_driver_for_cuda(cuda: str, system: str = "Linux") -> str | None:
    """Lowest driver for the GA release of CUDA ``major.minor`` on ``system`` ("Linux"/"Windows").

    None when the version is not in the table or NVIDIA ships no driver for it on that system.
    """
    key = _cuda_key(cuda)
    col = _column(system)
    found: list[tuple[tuple[int, ...], str]] = []
    for row in _rows():
        if _cuda_key(row["toolkit"]) == key and row.get(col):
            v = parse_driver_version(row[col])
            if v is not None:
                found.append((v, row[col]))
    return min(found)[1] if found else None


def minor_compat_floor(cuda: str, system: str = "Linux") -> int | None:
    """Driver branch from which any toolkit of this CUDA major runs (minor version compatibility).

    None when the table has no floor for that major (before CUDA 11) or for that system.
    """
    key = _cuda_key(cuda)
    col = _column(system)
    for row in _floors():
        if key is not None and row["cuda_major"] == str(key[0]) and row.get(col):
            return int(row[col])
    return None


class DriverVerdict(enum.StrEnum):
    OK = "ok"  # driver >= the toolkit's own minimum
    MINOR_COMPAT = "minor_compat"  # below it but >= the major's floor: runs, PTX JIT may fail
    TOO_OLD = "too_old"  # the build cannot use the GPU with this driver
    UNKNOWN = "unknown"  # version missing or not in the table


@dataclass(frozen=True)
class DriverCheck:
    verdict: DriverVerdict
    build_cuda: str
    driver_version: str | None
    required_driver: str | None  # the toolkit's own minimum on this system
    compat_floor: int | None  # minor-version-compatibility driver branch


def check_driver(build_cuda: str, driver_version: str | None, system: str = "Linux") -> DriverCheck:
    """Compare an installed driver with what a build for CUDA ``build_cuda`` needs."""
    required = min_driver_for_cuda(build_cuda, system)
    floor = minor_compat_floor(build_cuda, system)
    have = parse_driver_version(driver_version) if driver_version else None
    if have is None or (required is None and floor is None):
        verdict = DriverVerdict.UNKNOWN
    elif required is not None and have >= (parse_driver_version(required) or ()):
        verdict = DriverVerdict.OK
    elif floor is not None and have[0] >= floor:
        # No toolkit row for this system (e.g. 13.x on Windows): the floor is all we know.
        verdict = DriverVerdict.MINOR_COMPAT if required is not None else DriverVerdict.OK
    else:
        verdict = DriverVerdict.TOO_OLD
    return DriverCheck(verdict, build_cuda, driver_version, required, floor)
