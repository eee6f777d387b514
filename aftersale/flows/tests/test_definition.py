import json

import pytest

from aftersale.flows.definition import InvalidFlowDefinition, parse_definition
from aftersale.flows.services import LIBRARY_DIR


def test_every_ready_flow_in_the_library_validates():
    for path in LIBRARY_DIR.glob("*.json"):
        assert parse_definition(json.loads(path.read_text())).steps


def test_a_missing_field_is_named_in_the_error():
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0\.email\.template"):
        parse_definition({"name": "x", "steps": [{"type": "email"}]})


def test_an_unknown_step_type_is_refused():
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0"):
        parse_definition({"name": "x", "steps": [{"type": "teleport"}]})


def test_a_coupon_step_needs_a_coupon_offer():
    with pytest.raises(InvalidFlowDefinition, match="defines no `coupon`"):
        parse_definition(
            {"name": "x", "steps": [{"type": "email", "template": "t", "coupon": "issue"}]}
        )


def test_a_jump_back_is_refused_so_every_journey_ends():
    with pytest.raises(InvalidFlowDefinition, match="jumps back"):
        parse_definition(
            {
                "name": "x",
                "steps": [
                    {"type": "email", "template": "t", "id": "first"},
                    {"type": "split", "condition": {"kind": "opened"}, "then": "first"},
                ],
            }
        )


def test_a_jump_to_an_unknown_step_is_refused():
    with pytest.raises(InvalidFlowDefinition, match="unknown step id 'nowhere'"):
        parse_definition(
            {
                "name": "x",
                "steps": [{"type": "split", "condition": {"kind": "opened"}, "then": "nowhere"}],
            }
        )


def test_a_category_trigger_needs_categories():
    with pytest.raises(InvalidFlowDefinition, match="needs `categories`"):
        parse_definition(
            {"name": "x", "trigger": {"event": "category_purchased"}, "steps": [{"type": "exit"}]}
        )


def test_the_stored_form_reads_back_the_same():
    definition = parse_definition(
        {
            "name": "x",
            "steps": [
                {"type": "split", "condition": {"kind": "opened"}, "else": "end"},
                {"type": "email", "template": "t"},
                {"type": "exit", "id": "end"},
            ],
        }
    )
    stored = definition.model_dump(mode="json", by_alias=True)
    assert stored["steps"][0]["else"] == "end"
    assert parse_definition(stored) == definition


def test_a_bad_segment_inside_a_flow_is_named_with_its_place():
    with pytest.raises(InvalidFlowDefinition, match=r"trigger\.segment: .*days"):
        parse_definition(
            {
                "name": "x",
                "trigger": {"segment": {"type": "dormant", "days": 0}},
                "steps": [{"type": "exit"}],
            }
        )


def test_a_custom_event_trigger_needs_the_events_name():
    with pytest.raises(InvalidFlowDefinition, match=r"trigger: .*`name` goes with event `custom`"):
        parse_definition({"name": "x", "trigger": {"event": "custom"}, "steps": [{"type": "exit"}]})


def test_a_filter_a_trigger_has_nothing_to_apply_to_is_refused():
    trigger = {"event": "birthday", "products": ["p1"]}
    with pytest.raises(InvalidFlowDefinition, match="`birthday` has no products to filter on"):
        parse_definition({"name": "x", "trigger": trigger, "steps": [{"type": "exit"}]})


def test_birthdays_and_dormancy_let_customers_back_for_each_new_occasion_by_default():
    for event in ("birthday", "first_order_anniversary", "customer_dormant"):
        definition = parse_definition(
            {"name": "x", "trigger": {"event": event}, "steps": [{"type": "exit"}]}
        )
        assert (definition.trigger.reentry.mode, definition.trigger.reentry.days) == ("every", 1)
