import datetime as dt
import json

import pytest

from aftersale.flows.definition import (
    DelayStep,
    EmailStep,
    InvalidFlowDefinition,
    parse_definition,
)
from aftersale.flows.selectors import library_flow_slugs
from aftersale.flows.services import LIBRARY_DIR

READY_FLOWS = library_flow_slugs()


def test_the_library_ships_ready_flows():
    # Guards the parametrized test below, which a moved library would silently empty.
    assert {"checkout-recovery", "post-purchase-upsell", "win-back"} <= set(READY_FLOWS)


@pytest.mark.parametrize("slug", READY_FLOWS)
def test_every_ready_flow_in_the_library_parses_into_the_steps_it_writes(slug):
    data = json.loads((LIBRARY_DIR / f"{slug}.json").read_text())

    definition = parse_definition(data)

    assert [step.type for step in definition.steps] == [step["type"] for step in data["steps"]]
    for step, written in zip(definition.steps, data["steps"], strict=True):
        if isinstance(step, EmailStep):
            assert step.template == written["template"]
            assert step.coupon == written.get("coupon", "none")
        if isinstance(step, DelayStep):
            assert step.duration == dt.timedelta(
                days=written.get("days", 0),
                hours=written.get("hours", 0),
                minutes=written.get("minutes", 0),
            )
    assert list(definition.exit_when) == data.get(
        "exit_when", ["purchased_again", "refunded", "unsubscribed"]
    )
    assert definition.trigger.event == data["trigger"]["event"]


def test_a_delay_step_waits_its_days_hours_and_minutes_from_the_previous_step():
    definition = parse_definition(
        {"name": "x", "steps": [{"type": "delay", "days": 1, "hours": 2.5, "minutes": 15}]}
    )

    (step,) = definition.steps
    assert isinstance(step, DelayStep)
    assert step.duration == dt.timedelta(days=1, hours=2, minutes=45)
    assert (step.relative_to, step.weekdays, step.at) == ("previous_step", (), None)


def test_a_flow_exits_by_default_on_a_new_purchase_a_refund_and_an_unsubscribe():
    definition = parse_definition({"name": "x", "steps": [{"type": "exit"}]})

    assert definition.exit_when == ("purchased_again", "refunded", "unsubscribed")


def test_a_negative_delay_is_refused_with_the_field_named():
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0\.delay\.hours: .*greater than"):
        parse_definition({"name": "x", "steps": [{"type": "delay", "hours": -1}]})


@pytest.mark.parametrize("days", [1e308, float("inf"), float("nan"), 3651])
def test_a_delay_beyond_ten_years_is_refused_with_the_field_named(days):
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0\.delay\.days: "):
        parse_definition({"name": "x", "steps": [{"type": "delay", "days": days}]})


def test_an_unknown_exit_rule_is_refused_with_the_field_named():
    with pytest.raises(InvalidFlowDefinition, match=r"exit_when\.0: .*'purchased_again'"):
        parse_definition({"name": "x", "steps": [{"type": "exit"}], "exit_when": ["bought"]})


def test_a_flow_without_steps_is_refused():
    with pytest.raises(InvalidFlowDefinition, match=r"steps: .*at least 1 item"):
        parse_definition({"name": "x", "steps": []})


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


def test_every_problem_is_given_with_its_path_for_a_form_or_an_api_to_show():
    definition = {
        "name": "x",
        "trigger": {"segment": {"rule": "dormant", "days": -1}},
        "steps": [{"type": "email"}, {"type": "delay", "hours": -1}],
    }

    with pytest.raises(InvalidFlowDefinition) as refused:
        parse_definition(definition)

    paths = [loc for loc, _ in refused.value.problems]
    assert paths[:2] == [("steps", 0, "email", "template"), ("steps", 1, "delay", "hours")]
    with pytest.raises(InvalidFlowDefinition) as refused:
        parse_definition({**definition, "steps": [{"type": "email", "template": "t"}]})
    assert [loc for loc, _ in refused.value.problems] == [("trigger", "segment")]
