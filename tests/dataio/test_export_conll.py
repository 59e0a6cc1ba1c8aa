"""CoNLL/IOB2 export of spans projects: the tagging rules, then the file."""
from __future__ import annotations

import pytest

from dataio.export.conll import tags
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final


def span(start, end, label):
    return {"start": start, "end": end, "label": label}


def test_spans_on_token_boundaries_get_b_then_i():
    text = "Great acting by Tom Hanks ."
    assert tags(text, [span(0, 12, "PRAISE"), span(16, 25, "PER")]) == [
        ("Great", "B-PRAISE"), ("acting", "I-PRAISE"), ("by", "O"), ("Tom", "B-PER"), ("Hanks", "I-PER"), (".", "O")]


def test_tokens_are_runs_of_non_whitespace():
    assert [t for t, _ in tags("  a\tb\n\nc  d ", [])] == ["a", "b", "c", "d"]
    assert tags("", []) == []


def test_a_token_that_overlaps_a_span_gets_its_label():
    # "Hanks'" holds the span's end; "sweet" only its first letter; "ly" none.
    text = "Tom Hanks' sweetly"
    assert tags(text, [span(4, 9, "PER"), span(11, 12, "X")]) == [
        ("Tom", "O"), ("Hanks'", "B-PER"), ("sweetly", "B-X")]


def test_a_span_ending_where_a_token_starts_does_not_tag_it():
    assert tags("ab cd", [span(0, 3, "A")]) == [("ab", "B-A"), ("cd", "O")]


def test_adjacent_spans_of_one_label_start_twice():
    assert tags("New York Boston", [span(0, 8, "LOC"), span(9, 15, "LOC")]) == [
        ("New", "B-LOC"), ("York", "I-LOC"), ("Boston", "B-LOC")]


def test_overlapping_spans_the_earlier_one_wins_and_the_later_keeps_the_rest():
    text = "one two three four"
    assert tags(text, [span(4, 18, "B"), span(0, 7, "A")]) == [
        ("one", "B-A"), ("two", "I-A"), ("three", "B-B"), ("four", "I-B")]
    # Same start: the longer span wins; the nested one is lost (flat IOB cannot hold it).
    assert tags(text, [span(0, 3, "IN"), span(0, 13, "OUT")]) == [
        ("one", "B-OUT"), ("two", "I-OUT"), ("three", "I-OUT"), ("four", "O")]


def test_crossing_spans_each_start_with_b():
    # a=[0,1) b=[2,3) c=[4,5) d=[6,7): X takes a and b, Z (starting next) only c is left, Y only d.
    assert tags("a b c d", [span(0, 3, "X"), span(2, 7, "Y"), span(1, 5, "Z")]) == [
        ("a", "B-X"), ("b", "I-X"), ("c", "B-Z"), ("d", "B-Y")]
    # A span inside a longer one that starts first is lost.
    assert tags("a b c d", [span(2, 3, "INNER"), span(0, 7, "OUT")]) == [
        ("a", "B-OUT"), ("b", "I-OUT"), ("c", "I-OUT"), ("d", "I-OUT")]


def test_whitespace_in_a_label_becomes_an_underscore():
    assert tags("big deal", [span(0, 8, "GOOD THING")]) == [("big", "B-GOOD_THING"), ("deal", "I-GOOD_THING")]


@pytest.mark.django_db
def test_conll_file_has_a_document_per_decided_item(as_user, admin):
    project = make_project(admin, name="Spans", task_type="spans", labels=["PRAISE", "PER"])
    first, second, undecided = add_items(
        project,
        {"data": {"text": "Great acting by Tom Hanks"}, "external_id": "r-1\nx",
         **final({"spans": [span(0, 12, "PRAISE"), span(16, 25, "PER")]})},
        {"data": {"text": "Dull ."}, **final({"spans": []}, source="reviewer")},
        {"data": {"text": "Not decided"}},
    )

    r = export(as_user(admin), project, "conll")

    assert r["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="project-{project.pk}.conll"' in r["Content-Disposition"]
    assert body_of(r) == (
        f"# id = {first.pk}\n# external_id = r-1 x\n"
        "Great\tB-PRAISE\nacting\tI-PRAISE\nby\tO\nTom\tB-PER\nHanks\tI-PER\n\n"
        f"# id = {second.pk}\nDull\tO\n.\tO\n\n"
    )
    assert body_of(export(as_user(admin), project, "conll", source="reviewer")).startswith(f"# id = {second.pk}\n")
