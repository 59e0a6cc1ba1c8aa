"""The decision rules: pure, no database."""
from __future__ import annotations

import pytest

from decisions import rules
from decisions.rules import FieldRule, Rules


def test_a_class_threshold_overrides_the_projects():
    r = Rules(0.9, {"fraud": 0.99}, [])
    assert rules.judge(r, value={"label": "ok"}, confidence=0.95, metadata={}).accept
    assert not rules.judge(r, value={"label": "fraud"}, confidence=0.95, metadata={}).accept
    assert rules.judge(r, value={"label": "fraud"}, confidence=0.995, metadata={}).accept


def test_a_metadata_rule_sends_to_a_person_whatever_the_confidence():
    r = Rules(0.5, {}, rules.check_field_rules([{"field": "amount", "op": ">", "value": 1000, "then": "human"}]))
    assert not rules.judge(r, value={"label": "ok"}, confidence=1.0, metadata={"amount": 1500}).accept
    assert rules.judge(r, value={"label": "ok"}, confidence=1.0, metadata={"amount": 10}).accept
    assert rules.judge(r, value={"label": "ok"}, confidence=1.0, metadata={"amount": "lots"}).accept


def test_without_a_threshold_or_a_confidence_nothing_is_accepted():
    assert not rules.judge(Rules(None, {}, []), value={"label": "x"}, confidence=1.0, metadata={}).accept
    assert not rules.judge(Rules(0.1, {}, []), value={"label": "x"}, confidence=None, metadata={}).accept


@pytest.mark.parametrize("raw, field", [
    ("nope", "field_rules"),
    ([{"op": ">", "value": 1}], "field_rules[0]"),
    ([{"field": "a", "op": "~", "value": 1}], "field_rules[0].op"),
    ([{"field": "a", "op": ">", "value": "x"}], "field_rules[0].value"),
    ([{"field": "a", "op": "==", "value": 1, "then": "accept"}], "field_rules[0].then"),
])
def test_bad_field_rules_name_the_field(raw, field):
    with pytest.raises(rules.RuleError) as exc:
        rules.check_field_rules(raw)
    assert exc.value.field == field


def test_earlier_deadlines_come_first_above_all_other_work():
    now = 1_800_000_000.0
    soon, later = rules.deadline_priority(now + 60), rules.deadline_priority(now + 61)
    assert soon > later > 3.0  # above the adaptive overlap's [2, 3) and the models' [0, 1]
    assert rules.DEADLINE_BASE < later < soon < rules.DEADLINE_BASE + 1


def test_a_field_rule_matches_membership_and_equality():
    assert FieldRule("country", "in", ["XX", "YY"]).matches({"country": "XX"})
    assert not FieldRule("country", "==", "XX").matches({})
