"""Reports: one self-contained HTML file (or Markdown, or JSON) with the verdict, charts and advice.

    >>> from gpuplan.report import build_report, render_html
    >>> html = render_html(build_report(workload, gpus))  # doctest: +SKIP

``build_report`` computes (:class:`ReportData`); ``render_html`` / ``render_markdown`` render;
``to_jsonable(data)`` from :mod:`gpuplan.render.jsonout` is the JSON form.
"""

from gpuplan.report.build import build_report
from gpuplan.report.data import Availability, BatchSweep, ReportData, SweepPoint

__all__ = ["Availability", "BatchSweep", "ReportData", "SweepPoint", "build_report"]
