"""The dashboard's SVG charts: pure functions, well-formed XML, data escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from pages import charts

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


def test_line_chart_puts_a_point_per_value_labelled_by_version_and_joins_each_series():
    root = parse(charts.line_chart(
        [("accuracy", [(100, 0.5, "v1"), (200, 0.75, "v2"), (400, 1.0, "v3")]),
         ("macro-F1", [(100, 0.4, "v1"), (200, None, "v2"), (400, 0.9, "v3")])],
        "Learning curve", x_title="training labels", y_title="score", y_max=1.0))
    points = root.findall(f".//{SVG}circle")
    assert [(float(p.get("data-x")), float(p.get("data-y"))) for p in points] == [
        (100, 0.5), (200, 0.75), (400, 1.0), (100, 0.4), (400, 0.9)]  # the None is left out
    assert len(root.findall(f".//{SVG}polyline")) == 2
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "point-label"]
    assert labels == ["v1", "v2", "v3"]
    assert "v2: accuracy 0.750 at training labels 200" in [p.find(f"{SVG}title").text for p in points]
    # More labels is further right, a higher score further up.
    xs = [float(p.get("cx")) for p in points[:3]]
    ys = [float(p.get("cy")) for p in points[:3]]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "accuracy" in texts and "macro-F1" in texts  # the legend


def test_line_chart_with_a_single_version_draws_one_point_without_a_line():
    root = parse(charts.line_chart([("accuracy", [(50, 0.8, "v1")])], "Learning curve",
                                   x_title="training labels", y_title="score", y_max=1.0))
    assert len(root.findall(f".//{SVG}circle")) == 1
    assert root.findall(f".//{SVG}polyline") == []


def test_calibration_chart_has_a_bar_per_filled_bin_the_diagonal_and_a_dot_at_confidence_and_accuracy():
    bins = [{"lower": 0.5, "upper": 0.6, "count": 4, "confidence": 0.55, "accuracy": 0.25},
            {"lower": 0.6, "upper": 0.7, "count": 0, "confidence": None, "accuracy": None},
            {"lower": 0.9, "upper": 1.0, "count": 10, "confidence": 0.95, "accuracy": 0.9}]
    root = parse(charts.calibration_chart(bins, "Calibration"))
    bars = [r for r in root.findall(f".//{SVG}rect") if r.get("class") == "bin"]
    assert [int(b.get("data-count")) for b in bars] == [4, 10]
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == 3.6 * heights[0]  # accuracy 0.9 against 0.25
    diagonal = [line for line in root.findall(f".//{SVG}line") if line.get("class") == "diagonal"]
    assert len(diagonal) == 1
    d = diagonal[0]
    assert float(d.get("x1")) < float(d.get("x2")) and float(d.get("y1")) > float(d.get("y2"))
    dots = root.findall(f".//{SVG}circle")
    assert [float(c.get("data-confidence")) for c in dots] == [0.55, 0.95]
    assert "confidence 90–100%: 10 items, mean confidence 95%, accuracy 90%" in [
        b.find(f"{SVG}title").text for b in bars]


def test_new_charts_escape_names_and_say_when_there_is_nothing_to_show():
    evil = '<script>alert("x")</script>'
    svg = charts.line_chart([(evil, [(1, 0.5, evil)])], evil, x_title=evil, y_title=evil)
    assert "<script>" not in svg
    parse(svg)
    svg = charts.calibration_chart([{"lower": 0, "upper": 0.1, "count": 1, "confidence": 0.05, "accuracy": 1.0}],
                                   evil)
    assert "<script>" not in svg
    parse(svg)
    assert "nothing to show" in charts.line_chart([("accuracy", [])], "Learning curve", x_title="x", y_title="y")
    assert "nothing to show" in charts.line_chart([("accuracy", [(1, None, "v1")])], "Learning curve",
                                                  x_title="x", y_title="y")
    assert "nothing to show" in charts.calibration_chart([], "Calibration")
    assert "nothing to show" in charts.calibration_chart(
        [{"lower": 0, "upper": 0.1, "count": 0, "confidence": None, "accuracy": None}], "Calibration")
