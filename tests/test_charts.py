"""The dashboard's SVG charts: pure functions, well-formed XML, data escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from hitl import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    return root


def test_bar_chart_draws_one_bar_per_value_scaled_to_the_maximum():
    root = parse(charts.bar_chart([("ann", 1.0), ("bob", 0.5)], "Agreement", max_value=1.0, percent=True))
    bars = root.findall(f".//{SVG}rect")
    assert [float(b.get("width")) for b in bars] == [360.0, 180.0]
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "100%" in texts and "50%" in texts
    assert root.find(f"{SVG}title").text == "Agreement"


def test_bar_chart_scales_to_the_largest_value_by_default_and_shows_missing_values_as_na():
    root = parse(charts.bar_chart([("new", 4), ("done", 8), ("x", None)], "Items by status"))
    widths = [float(b.get("width")) for b in root.findall(f".//{SVG}rect")]
    assert widths == [180.0, 360.0]
    assert any("n/a" == "".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def test_bar_chart_with_all_zero_values_does_not_divide_by_zero():
    root = parse(charts.bar_chart([("a", 0), ("b", 0)], "Zeros"))
    assert [float(b.get("width")) for b in root.findall(f".//{SVG}rect")] == [0.0, 0.0]


def test_names_and_titles_are_escaped():
    evil = '<script>alert("x")</script> & co'
    svg = charts.bar_chart([(evil, 0.3)], 'Title "<b>"')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
    root = parse(svg)
    assert root.get("aria-label") == 'Title "<b>"'
    hm = charts.heatmap([evil, "ok"], [[1, 0], [0, 1]], "Confusion")
    assert "<script>" not in hm
    parse(hm)


def test_heatmap_has_a_cell_per_pair_with_its_count_and_darkest_at_the_peak():
    root = parse(charts.heatmap(["pos", "neg"], [[3, 1], [0, 2]], "Confusion"))
    cells = root.findall(f".//{SVG}rect")
    assert [int(c.get("data-count")) for c in cells] == [3, 1, 0, 2]
    fills = [c.get("fill") for c in cells]
    assert fills[0] == "#0b57d0" and fills[2] == "#f6f8fa"
    assert "final pos, annotator neg: 1" in [c.find(f"{SVG}title").text for c in cells]


def test_empty_inputs_give_a_message_instead_of_a_chart():
    assert "nothing to show" in charts.bar_chart([], "Agreement")
    assert "nothing to show" in charts.heatmap([], [], "Confusion")
    assert "nothing to show" in charts.heatmap(["a", "b"], [[1]], "Confusion")
