"""This machine: NVIDIA driver and GPUs (NVML), the installed torch build, host resources.

>>> from gpuplan.system import collect_doctor
>>> report = collect_doctor()          # never raises for a missing driver or GPU
>>> report.worst, [f.message for f in report.findings if f.level != "ok"]
"""

from gpuplan.system.doctor import DoctorReport, Finding, Level, check_all, collect_doctor

__all__ = ["DoctorReport", "Finding", "Level", "check_all", "collect_doctor"]
