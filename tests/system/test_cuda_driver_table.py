"""CUDA toolkit -> minimum driver (the catalog's cuda_drivers.csv, from compat.md §2.2)."""

from __future__ import annotations

from gpuplan.system.driver import (
    DriverVerdict,
    check_driver,
    min_driver_for_cuda,
    minor_compat_floor,
    parse_driver_version,
)


def test_min_driver_is_the_ga_row() -> None:
    assert min_driver_for_cuda("13.0") == "580.65.06"
    assert min_driver_for_cuda("12.8") == "570.26"
    assert min_driver_for_cuda("12.2") == "535.54.03"
    assert min_driver_for_cuda("10.1") == "418.39"
    assert min_driver_for_cuda("11.8", "Windows") == "520.06"
    assert min_driver_for_cuda("13.0", "Windows") is None  # not bundled on Windows
    assert min_driver_for_cuda("12.7") is None  # no such toolkit


def test_minor_compat_floor() -> None:
    assert (minor_compat_floor("13.0"), minor_compat_floor("12.6"), minor_compat_floor("11.8")) == (
        580,
        525,
        450,
    )
    assert minor_compat_floor("10.2") is None


def test_parse_driver_version() -> None:
    assert parse_driver_version("535.104.05") == (535, 104, 5)
    assert parse_driver_version("576.02") == (576, 2)
    assert parse_driver_version("N/A") is None


def test_check_driver_verdicts() -> None:
    assert check_driver("13.0", "580.95.05").verdict is DriverVerdict.OK
    assert check_driver("13.0", "580.65.06").verdict is DriverVerdict.OK
    assert check_driver("12.8", "560.35.03").verdict is DriverVerdict.MINOR_COMPAT
    old = check_driver("13.0", "418.67")
    assert old.verdict is DriverVerdict.TOO_OLD
    assert (old.required_driver, old.compat_floor) == ("580.65.06", 580)
    assert check_driver("10.2", "418.67").verdict is DriverVerdict.TOO_OLD  # no minor compat before 11
    assert check_driver("13.0", None).verdict is DriverVerdict.UNKNOWN
    assert check_driver("9.9", "550.54.14").verdict is DriverVerdict.UNKNOWN
    # Windows: no 13.x toolkit row and no Windows floor in the table -> unknown, not a guess.
    assert check_driver("13.0", "581.15", "Windows").verdict is DriverVerdict.UNKNOWN
    assert check_driver("12.4", "552.22", "Windows").verdict is DriverVerdict.OK
    assert check_driver("12.4", "456.38", "Windows").verdict is DriverVerdict.TOO_OLD
