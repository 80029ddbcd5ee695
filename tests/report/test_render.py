"""Report renderers and `gpuplan report`: one self-contained HTML file (no network, < 1 MB, the JSON
inside equals --format json), a golden Markdown report, translation hooks, and bad input -> exit 2."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpuplan import i18n
from gpuplan.catalog import resolve_gpus
from gpuplan.cli.main import main
from gpuplan.render.jsonout import to_jsonable
from gpuplan.report.build import build_report
from gpuplan.report.data import ReportData
from gpuplan.report.html import render_html
from gpuplan.report.markdown import render_markdown
from gpuplan.workload.spec import Workload

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EXTERNAL = re.compile(r"""(?:src|href|action|srcset|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def report() -> ReportData:
    data = build_report(Workload("lstm", batch=64), resolve_gpus("gtx 760,rtx 3060 12gb,gtx 1060 6gb"), now=NOW,
                        detail=2)
    data.build_seconds = 0.0
    for r in data.fits:
        r.trace_seconds = 0.0
    return data


def test_html_is_self_contained_and_small(report: ReportData) -> None:
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"<script(?![^>]*type=\"application/json\")", html)  # no executable script
    assert len(html.encode()) < 1_000_000


def test_html_has_every_section_and_the_charts_of_the_detail_gpus(report: ReportData) -> None:
    html = render_html(report)
    for sid in ('id="verdict"', 'id="gpu1"', 'id="gpu2"', 'id="comparison"', 'id="advice"', 'id="notes"'):
        assert sid in html
    assert 'id="gpu3"' not in html  # detail=2: the third GPU is in the table only
    for chart in ("gpu1-breakdown", "gpu1-sweep", "gpu1-timeline", "gpu1-opclass", "gpu2-sweep", "compare-purchase"):
        assert f'id="{chart}"' in html
    assert html.count("<svg") == 9  # 4 per detail GPU + throughput vs purchase price
    assert "GeForce GTX 1060 6GB" in html
    assert "1 GiB = 2^30 bytes" in html  # GiB vs GB explained once
    assert html.count("1 GiB = 2^30 bytes") == 1
    assert report.advice_status.available and "PyTorch code for plan 1" in html  # the advisor, for the first GPU
    assert "<pre><code># gpuplan report: plan 1 for lstm on GeForce GTX 760" in html


def test_embedded_json_equals_the_json_format(report: ReportData) -> None:
    html = render_html(report)
    m = re.search(r'<script type="application/json" id="gpuplan-report-data">(.*?)</script>', html, re.S)
    assert m
    assert json.loads(m.group(1).replace("<\\/", "</")) == json.loads(json.dumps(to_jsonable(report)))


def test_markdown_golden(report: ReportData, golden) -> None:  # type: ignore[no-untyped-def]
    golden("report/lstm_three_gpus_md", render_markdown(report))


def test_text_goes_through_the_catalog(report: ReportData, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {"Verdict": "结论", "GPU comparison": "GPU 对比", "largest batch {n}": "最大批量 {n}"}
    monkeypatch.setattr(i18n, "catalog", lambda lang: fake if lang == "zh" else {})
    i18n.set_language("zh")
    try:
        html = render_html(report)
    finally:
        i18n.set_language(None)
    assert '<html lang="zh-Hans">' in html and ">结论</h2>" in html and "GPU 对比" in html and "最大批量" in html


def test_cli_writes_html_md_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "lstm", "--gpu", "gtx 760", "--batch", "32", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", "lstm", "--gpu", "gtx 760", "--batch", "32", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("# gpuplan report: lstm")
    assert main(["report", "lstm", "--gpu", "gtx 760", "--batch", "32", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["fits"][0]["gpu"]["name"] == "GeForce GTX 760" and obj["sweeps"][0]["points"]
    md = tmp_path / "r.md"
    assert main(["report", "lstm", "--gpu", "gtx 760", "--batch", "32", "-o", str(md)]) == 0
    assert md.read_text().startswith("# ")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["report", "lstm", "--gpu", "gtx 760", "--detail", "-1"], "--detail"),
        (["report", "lstm", "--gpu", "gtx 760", "--json", "--format", "md"], "--json"),
        (["report", "lstm", "--gpu", "gtx 760", "-o", "/nonexistent-dir/x.html"], "does not exist"),
        (["report", "lstm"], "--gpu"),
        (["report", "lstm", "--gpu", "gtx 7600000"], "Unknown GPU"),
        (["report", "lstm", "--gpu", "gtx 760", "--batch", "0"], "--batch"),
    ],
)
def test_cli_bad_input_exits_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


@pytest.mark.slow
def test_resnet50_on_three_gpus_needs_two_traces() -> None:
    data = build_report(Workload("resnet50", batch=32), resolve_gpus("gtx 760,rtx 3060 12gb,a100 80gb"),
                        with_advice=False)
    assert data.traces == 2
    small, mid, big = (s.max_batch_size for s in data.sweeps)
    assert 0 < small < 32 < mid < big  # 2 GB, 12 GB and 80 GB cards
    assert data.fits[0].fits is False and data.fits[1].fits is True
    assert len(render_html(data).encode()) < 1_000_000


def test_big_reports_leave_the_json_out(report: ReportData, monkeypatch: pytest.MonkeyPatch) -> None:
    import gpuplan.report.html as html_mod

    monkeypatch.setattr(html_mod, "EMBED_JSON_MAX_BYTES", 1000)
    html = render_html(report)
    assert 'id="gpuplan-report-data"' not in html and "--format json" in html
