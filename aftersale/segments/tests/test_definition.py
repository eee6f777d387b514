"""The segment definition language: what a flow filter may say, and the errors that name
the field that is wrong."""

import pytest

from aftersale.segments.definition import InvalidSegment, parse_segment, segment_json


def test_a_bad_field_inside_a_combinator_is_named_by_its_json_path():
    with pytest.raises(InvalidSegment, match=r"all\.1\.days: Input should be greater than 0"):
        parse_segment({"all": [{"type": "first_time"}, {"type": "dormant", "days": 0}]})


def test_a_nested_not_is_part_of_the_path():
    with pytest.raises(InvalidSegment, match=r"any\.0\.not\.actions\.0: Input should be"):
        parse_segment({"any": [{"not": {"type": "engaged", "days": 7, "actions": ["read"]}}]})


def test_an_unknown_condition_type_is_refused_with_the_known_ones_listed():
    with pytest.raises(InvalidSegment, match=r"not: Expected a condition .*dormant"):
        parse_segment({"not": {"type": "vip"}})


def test_an_unknown_field_is_refused():
    with pytest.raises(InvalidSegment, match=r"since: Extra inputs are not permitted"):
        parse_segment({"type": "dormant", "days": 30, "since": "2024-01-01"})


def test_a_combinator_needs_at_least_one_condition():
    with pytest.raises(InvalidSegment, match=r"any: Value error, should have at least 1 item"):
        parse_segment({"any": []})


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ({"type": "rfm", "recency": {"min": 6}}, r"recency\.min: Input should be less than"),
        ({"type": "rfm", "frequency": {"min": 4, "max": 2}}, r"frequency: .*min must not"),
        ({"type": "order_value"}, r"give min, max or both"),
        ({"type": "high_spender", "min_total": 5, "top_percent": 5}, r"exactly one of"),
        ({"type": "high_spender", "top_percent": 120}, r"top_percent: Input should be less"),
        ({"type": "repeat", "min_orders": 1}, r"min_orders: Input should be greater than"),
        ({"type": "purchased_category", "category": ""}, r"category: String should have"),
    ],
)
def test_out_of_range_settings_are_refused(definition, problem):
    with pytest.raises(InvalidSegment, match=problem):
        parse_segment(definition)


def test_a_segment_reads_back_from_its_json_unchanged():
    definition = {
        "all": [
            {"type": "repeat", "min_orders": 3},
            {"not": {"type": "engaged", "days": 30}},
            {"any": [{"type": "rfm", "recency": {"min": 4}}, {"type": "unsubscribed"}]},
        ]
    }
    segment = parse_segment(definition)

    assert segment_json(segment) == definition
    assert parse_segment(segment_json(segment)) == segment
