"""The flow builder's form and a flow definition, both ways: every ready flow survives
definition -> form data -> definition unchanged, and a problem names its form field."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from aftersale.dashboard.flow_form import (
    apply_operation,
    card_values,
    data_to_definition,
    definition_to_data,
    field_of,
)
from aftersale.flows.definition import (
    InvalidFlowDefinition,
    parse_definition,
    stored_definition,
)
from aftersale.flows.selectors import library_definition, library_flow_slugs
from aftersale.flows.tests.helpers import upsell_definition

BRANCHING = {
    "name": "Branches",
    "trigger": {
        "event": "any_purchase",
        "min_order_total": "20",
        "categories": ["mugs", "tea"],
        "segment": {"type": "repeat"},
        "reentry": {"mode": "every", "days": 30},
    },
    "exit_when": ["refunded"],
    "guards": {"smart_sending_hours": 0, "quiet_hours": None},
    "coupon": {"kind": "free_shipping", "minimum_order": "50", "valid_days": 7,
               "code_prefix": "SHIP"},
    "steps": [
        {"type": "email", "template": "thank-you", "transactional": True},
        {"type": "delay", "id": "wait", "days": 2},
        {"type": "split", "condition": {"kind": "opened"}, "then": "ab", "else": "nudge"},
        {"type": "delay", "id": "nudge", "hours": 5, "weekdays": ["mon", "fri"], "at": "09:30"},
        {"type": "email", "template": "offer-reminder", "coupon": "issue",
         "skip_if": ["coupon_redeemed"], "next": "end"},
        {"type": "ab_split", "id": "ab", "variants": [{"weight": 70, "goto": "end"},
                                                   {"weight": 30}]},
        {"type": "split", "condition": {"kind": "order_value", "min": "10", "max": "99"}},
        {"type": "split", "condition": {"kind": "in_segment", "segment": {"type": "first_time"}}},
        {"type": "exit", "id": "end"},
    ],
}  # fmt: skip


def _round_trip(definition: Mapping[str, object]) -> None:
    parsed = parse_definition(definition)
    data = definition_to_data(parsed.model_dump(mode="json", by_alias=True))
    assert parse_definition(data_to_definition(data).definition) == parsed


@pytest.mark.parametrize("slug", library_flow_slugs())
def test_every_ready_flow_comes_back_from_the_form_unchanged(slug: str) -> None:
    definition = library_definition(slug)
    assert definition is not None
    _round_trip(definition.model_dump(mode="json", by_alias=True))


def test_splits_ab_splits_waits_exits_and_filters_come_back_from_the_form_unchanged() -> None:
    _round_trip(BRANCHING)


def test_a_flow_leaving_its_guards_to_the_store_keeps_following_the_store_after_a_save() -> None:
    stored = stored_definition(parse_definition({**BRANCHING, "guards": {}}))
    data = definition_to_data(stored)
    assert data["guards-own"] == [""]

    saved = parse_definition(data_to_definition(data).definition)

    assert stored_definition(saved) == stored
    assert not {"smart_sending_hours", "quiet_hours"} & saved.guards.model_fields_set


def test_a_flow_with_its_own_guards_keeps_them_after_a_save() -> None:
    stored = stored_definition(parse_definition(BRANCHING))
    data = definition_to_data(stored)
    assert data["guards-own"] == ["on"]

    saved = parse_definition(data_to_definition(data).definition)

    assert (saved.guards.smart_sending_hours, saved.guards.quiet_hours) == (0, None)
    assert stored_definition(saved) == stored


def test_a_steps_own_coupon_offer_comes_back_from_the_form_unchanged() -> None:
    definition = upsell_definition()
    offer = next(s for s in definition["steps"] if s.get("template") == "offer")
    offer.update(id="offer", offer={"kind": "fixed", "amount": "5", "code_prefix": "STEP"})
    _round_trip(definition)
    data = definition_to_data(parse_definition(definition).model_dump(mode="json"))
    back = parse_definition(data_to_definition(data).definition)
    assert [s.offer.amount for _, s in back.email_steps() if s.offer] == [Decimal("5")]


def test_a_delay_before_an_email_is_one_message_card_with_the_email() -> None:
    definition = library_definition("post-purchase-upsell")
    assert definition is not None
    data = definition_to_data(definition.model_dump(mode="json", by_alias=True))

    cards = card_values(data)

    assert [c["type"] for c in cards] == ["message", "message", "message"]
    assert [(c["delay_days"], c["delay_hours"], c["template"]) for c in cards] == [
        ("0", "2", "thank-you"),
        ("3", "0", "cross-sell-offer"),
        ("4", "0", "offer-reminder"),
    ]
    assert data["steps-0-delay-days"] == ["0"]


def test_a_problem_in_a_message_cards_delay_names_that_cards_delay_field() -> None:
    definition = library_definition("post-purchase-upsell")
    assert definition is not None
    data = definition_to_data(definition.model_dump(mode="json", by_alias=True))
    data["steps-1-delay-days"] = ["three"]
    data["steps-2-template"] = [""]
    converted = data_to_definition(data)

    with pytest.raises(InvalidFlowDefinition) as refused:
        parse_definition(converted.definition)

    fields = {field_of(path, converted.origins) for path, _ in refused.value.problems}
    assert fields == {"steps-1-delay-days", "steps-2-template"}


def test_problems_of_the_trigger_coupon_and_variants_name_their_fields() -> None:
    origins = [(0, ""), (1, "delay"), (1, ""), (2, "")]
    assert field_of(("trigger", "reentry", "days"), origins) == "trigger-reentry-days"
    assert field_of(("trigger", "min_order_total"), origins) == "trigger-min_order_total"
    assert field_of(("coupon", "amount"), origins) == "coupon-amount"
    assert field_of(("steps", 3, "ab_split", "variants", 1, "weight"), origins) == (
        "steps-2-variants-1-weight"
    )
    assert field_of(("steps", 1, "delay", "id"), origins) == "steps-1-id"
    assert field_of(("steps", 3, "split", "condition", "opened", "step"), origins) == (
        "steps-2-condition-step"
    )
    assert field_of((), origins) == ""


def test_a_segment_that_is_not_json_is_said_at_its_field() -> None:
    data = definition_to_data(parse_definition(BRANCHING).model_dump(mode="json", by_alias=True))
    data["trigger-segment"] = ['{"type": "repeat"']

    assert "not JSON" in data_to_definition(data).errors["trigger-segment"]


def test_cards_are_added_removed_and_moved_keeping_what_was_typed() -> None:
    definition = library_definition("post-purchase-upsell")
    assert definition is not None
    data = definition_to_data(definition.model_dump(mode="json", by_alias=True))
    data["steps-2-template"] = ["typed-but-not-saved"]

    added = apply_operation(data, "add-message")
    assert [c["template"] for c in card_values(added)] == [
        "thank-you", "cross-sell-offer", "typed-but-not-saved", ""
    ]  # fmt: skip
    moved = apply_operation(added, "up-2")
    assert [c["template"] for c in card_values(moved)][:3] == [
        "thank-you", "typed-but-not-saved", "cross-sell-offer"
    ]  # fmt: skip
    removed = apply_operation(moved, "remove-0")
    assert [c["template"] for c in card_values(removed)] == [
        "typed-but-not-saved", "cross-sell-offer", ""
    ]  # fmt: skip
    split = apply_operation(removed, "add-ab_split")
    assert card_values(split)[-1]["variants"][:2] == [(0, "50", ""), (1, "50", "")]


def test_what_smart_sending_does_to_coupon_emails_comes_back_from_the_form_unchanged() -> None:
    definition = upsell_definition()
    definition["guards"] = {"smart_sending_coupons": "skip"}
    offer = next(s for s in definition["steps"] if s.get("template") == "offer")
    offer["smart_sending"] = "delay"
    _round_trip(definition)
    data = definition_to_data(parse_definition(definition).model_dump(mode="json"))
    assert data["guards-smart_sending_coupons"] == ["skip"]
