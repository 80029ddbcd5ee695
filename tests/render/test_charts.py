"""Inline SVG charts: well-formed, accessible (title, desc, labelled axes), everything inside the frame,
the marks that carry the message (capacity line, largest-batch marker, phases) present, text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from gpuplan.render import charts

NS = {"s": "http://www.w3.org/2000/svg"}
GIB = 2**30

BREAKDOWN = {"parameters": int(0.1 * GIB), "gradients": int(0.1 * GIB), "optimizer_state": int(0.2 * GIB),
             "activations": int(2.5 * GIB), "workspaces": 0, "allocator_overhead": int(0.6 * GIB),
             "cuda_context": int(0.7 * GIB)}
SWEEP = [(1, int(1.2 * GIB), True), (4, int(1.4 * GIB), True), (10, int(1.97 * GIB), True),
         (11, int(2.1 * GIB), False), (40, int(5.0 * GIB), False)]
TIMELINE = ([(100 + i, "forward", int(i * 0.02 * GIB), int(3.6 * GIB)) for i in range(50)]
            + [(150 + i, "backward", int((1 - i / 60) * GIB), int(3.6 * GIB)) for i in range(60)]
            + [(210 + i, "optimizer", int(0.4 * GIB), int(3.6 * GIB)) for i in range(20)])


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def all_charts() -> dict[str, str]:
    return {
        "breakdown": charts.memory_breakdown_bar(BREAKDOWN, int(1.97 * GIB), chart_id="b"),
        "sweep": charts.memory_vs_batch(SWEEP, int(1.97 * GIB), 10, current_batch=4, chart_id="s"),
        "timeline": charts.memory_timeline(TIMELINE, limit_bytes=int(1.27 * GIB), chart_id="t"),
        "opclass": charts.op_class_bars({"conv": 0.34, "norm": 0.06, "elementwise": 0.09, "copy": 3e-6},
                                        chart_id="o"),
        "scatter": charts.throughput_vs_price([charts.ScatterPoint("RTX 3060", 250, 158),
                                               charts.ScatterPoint("H100", 33600, 2900),
                                               charts.ScatterPoint("GTX 760", 249, 62)], chart_id="p"),
    }


@pytest.mark.parametrize("name", list(all_charts()))
def test_charts_are_accessible_svg_with_everything_inside_the_frame(name: str) -> None:
    svg = all_charts()[name]
    root = parse(svg)
    w, h = (float(v) for v in root.attrib["viewBox"].split()[2:])
    assert root.attrib["role"] == "img"
    title_id, desc_id = root.attrib["aria-labelledby"].split()
    assert root.find("s:title", NS).attrib["id"] == title_id and root.find("s:title", NS).text
    assert root.find("s:desc", NS).attrib["id"] == desc_id and len(root.find("s:desc", NS).text) > 20
    for el in root.iter():
        for ax, ay in (("cx", "cy"), ("x", "y"), ("x1", "y1"), ("x2", "y2")):
            if ax in el.attrib and ay in el.attrib:
                x, y = float(el.attrib[ax]), float(el.attrib[ay])
                assert -1 <= x <= w + 1 and -1 <= y <= h + 1, (name, el.tag, x, y)
        if "d" in el.attrib:
            nums = [float(v) for v in re.findall(r"-?\d+\.?\d*", el.attrib["d"])]
            xs, ys = nums[0::2], nums[1::2]
            assert all(-1 <= x <= w + 1 for x in xs) and all(-1 <= y <= h + 1 for y in ys), name
    assert "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in svg


def test_breakdown_has_one_segment_per_category_and_the_capacity_line() -> None:
    root = parse(all_charts()["breakdown"])
    seg_titles = [r.find("s:title", NS).text for r in root.iter("{http://www.w3.org/2000/svg}rect")
                  if r.find("s:title", NS) is not None]
    assert len(seg_titles) == 6  # workspaces (0 bytes) left out
    assert seg_titles[0].startswith("parameters") and seg_titles[-1].startswith("CUDA context")
    svg = all_charts()["breakdown"]
    assert "capacity" in svg and 'stroke-dasharray="5 3"' in svg
    assert "device total 4.20 GiB · 213% of the usable 1.97 GiB" in svg
    no_cap = charts.memory_breakdown_bar(BREAKDOWN, None, chart_id="b2")
    assert "stroke-dasharray" not in no_cap and "usable" not in no_cap


def test_sweep_marks_capacity_largest_batch_and_colours_points_by_fit() -> None:
    svg = all_charts()["sweep"]
    root = parse(svg)
    assert "largest batch 10" in svg and "capacity 1.97 GiB" in svg
    circles = [c for c in root.iter("{http://www.w3.org/2000/svg}circle") if c.attrib.get("fill") != "none"]
    colours = [c.attrib["fill"] for c in circles]
    assert colours == [charts.FITS] * 3 + [charts.NOFIT] * 2
    assert any(c.attrib.get("fill") == "none" for c in root.iter("{http://www.w3.org/2000/svg}circle"))  # batch 4
    assert "batch size (samples per step)" in svg and "device memory (GiB)" in svg


def test_timeline_shades_phases_and_places_the_limit() -> None:
    svg = all_charts()["timeline"]
    for phase in ("forward", "backward", "optimizer"):
        assert f">{phase}</text>" in svg
    assert "capacity less CUDA context" in svg and "above the chart" not in svg
    far = charts.memory_timeline(TIMELINE, limit_bytes=78 * GIB, chart_id="t2")
    assert "(above the chart)" in far  # a big card does not squash the curve


def test_op_classes_are_sorted_largest_first_with_shares() -> None:
    svg = all_charts()["opclass"]
    labels = re.findall(r'text-anchor="end" fill="#222">([a-z]+)</text>', svg)
    assert labels == ["conv", "elementwise", "norm", "copy"]
    assert "340.0 ms (69%)" in svg and "3 µs (0%)" in svg


def test_scatter_uses_log_axes_for_wide_ranges_and_escapes_labels() -> None:
    assert "log scale" in all_charts()["scatter"]
    narrow = charts.throughput_vs_price([charts.ScatterPoint("a", 200, 100), charts.ScatterPoint("b", 300, 150)])
    assert "log scale" not in narrow
    evil = charts.throughput_vs_price([charts.ScatterPoint("<script>alert(1)</script>", 100, 10)])
    assert "<script>" not in evil and "&lt;script&gt;" in evil
    parse(evil)


def test_empty_inputs_give_a_message_not_an_error() -> None:
    for svg in (charts.memory_breakdown_bar({}, None), charts.memory_vs_batch([], None, None),
                charts.memory_timeline([]), charts.op_class_bars({}), charts.throughput_vs_price([])):
        root = parse(svg)
        assert root.find("s:desc", NS).text


def test_ticks_cover_the_range_with_round_steps() -> None:
    assert charts.nice_ticks(0, 5.4, 5) == [0, 2, 4, 6]
    assert charts.nice_ticks(0, 40, 6) == [0, 10, 20, 30, 40]
    t = charts.nice_ticks(0, 0.3, 5)
    assert t[0] == 0 and t[-1] >= 0.3
    assert charts.log_ticks(150, 40000) == [200, 500, 1000, 2000, 5000, 10000, 20000]
    assert charts.byte_unit(3 * GIB).name == "GiB" and charts.byte_unit(300 * 2**20).name == "MiB"
