"""What the flow builder reads and writes in flows: who qualifies for a trigger (a COUNT
and a LIMIT), ready flows set up as drafts under a free slug, stale revisions refused,
the timing of every step in words, and the coupon suggestions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersale.coupons.selectors import suggested_programs
from aftersale.customers.models import Customer
from aftersale.flows.definition import Trigger, parse_definition
from aftersale.flows.models import FlowStatus
from aftersale.flows.selectors import library_definition, mask_email, qualifying_customers
from aftersale.flows.services import StaleVersion, revise_flow, set_up_library_flow
from aftersale.flows.tests.helpers import place_order, start_checkout
from aftersale.flows.wording import duration_words, step_moments, steps_line
from aftersale.messaging.models import EmailTemplate
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.django_db


def test_first_purchase_qualifies_first_time_buyers_who_accept_marketing_counted_in_sql(
    store: Store,
) -> None:
    for n in range(13):
        place_order(store, order_id=f"o{n}", customer=f"c{n:02d}", at=T0)
    place_order(store, order_id="again", customer="c00", at=T0 + dt.timedelta(days=1))
    Customer.objects.filter(external_id="c01").update(accepts_marketing=False)

    with CaptureQueriesContext(connection) as queries:
        found = qualifying_customers(
            store=store, trigger=Trigger(event="first_purchase"), now=T0 + dt.timedelta(days=2)
        )

    assert found.count == 11
    assert len(found.preview) == 10
    assert len(queries) == 2  # the COUNT and the LIMIT: never every customer
    assert found.preview[0].email == "c••@example.com"
    assert found.preview[0].last_order_at == T0


def test_the_triggers_filters_narrow_who_qualifies(store: Store) -> None:
    place_order(store, order_id="1", customer="small", at=T0, total="5.00")
    place_order(store, order_id="2", customer="big", at=T0, total="50.00")
    place_order(store, order_id="3", customer="repeat", at=T0, total="50.00")
    place_order(store, order_id="4", customer="repeat", at=T0, total="50.00")
    now = T0 + dt.timedelta(days=1)

    def count(**trigger: object) -> int:
        return qualifying_customers(
            store=store, trigger=Trigger.model_validate(trigger), now=now
        ).count

    assert count(event="any_purchase", min_order_total=Decimal("20")) == 2
    assert count(event="any_purchase", segment={"type": "repeat"}) == 1
    assert count(event="order_fulfilled") == 0
    assert count(event="customer_dormant", dormant_days=30) == 0
    assert count(event="any_purchase", products=("nothing",)) == 0
    assert (
        qualifying_customers(
            store=store,
            trigger=Trigger(event="customer_dormant", dormant_days=30),
            now=T0 + dt.timedelta(days=40),
        ).count
        == 3
    )


def test_an_address_is_masked_but_for_its_first_letter_and_domain() -> None:
    assert mask_email("ada.lovelace@example.com") == "a••••••@example.com"
    assert mask_email("x@example.com") == "x••@example.com"
    assert mask_email("broken") == "•••"


def test_a_ready_flow_is_set_up_as_a_draft_with_its_templates_then_under_slug_2(
    store: Store,
) -> None:
    first = set_up_library_flow(store=store, ready="win-back", now=T0)
    second = set_up_library_flow(store=store, ready="win-back", now=T0)

    assert (first.slug, first.status) == ("win-back", FlowStatus.DRAFT)
    assert second.slug == "win-back-2"
    assert EmailTemplate.objects.filter(store=store, slug="win-back").count() == 1
    with pytest.raises(LookupError, match="no ready flow 'nope'"):
        set_up_library_flow(store=store, ready="nope", now=T0)


def test_a_ready_flow_set_up_leaves_its_quiet_hours_and_smart_sending_to_the_store(
    store: Store,
) -> None:
    flow = set_up_library_flow(store=store, ready="post-purchase-upsell", now=T0)

    guards = flow.versions.get().definition["guards"]

    assert "quiet_hours" not in guards and "smart_sending_hours" not in guards


def test_a_revision_based_on_an_older_version_is_refused_and_stores_nothing(
    store: Store,
) -> None:
    flow = set_up_library_flow(store=store, ready="review-request", now=T0)
    definition = flow.versions.get().definition
    revise_flow(flow=flow, definition=definition, now=T0, based_on=1)

    with pytest.raises(StaleVersion, match="version 2 after you started editing version 1"):
        revise_flow(flow=flow, definition=definition, now=T0, based_on=1)

    assert flow.versions.count() == 2


def test_every_step_says_how_long_after_the_trigger_it_runs() -> None:
    upsell = library_definition("post-purchase-upsell")
    review = library_definition("review-request")
    assert upsell is not None and review is not None

    assert step_moments(trigger_event="first_purchase", steps=list(upsell.steps))[1::2] == [
        "2 hours after the first purchase",
        "3 days 2 hours after the first purchase",
        "7 days 2 hours after the first purchase",
    ]
    assert step_moments(trigger_event="order_delivered", steps=list(review.steps))[-1] == (
        "on the first Tuesday, Wednesday, Thursday or Saturday at 10:00 from 7 days after "
        "the order was delivered"
    )
    assert duration_words(dt.timedelta(days=1.5, minutes=1)) == "1 day 12 hours 1 minute"
    assert steps_line(upsell.steps).startswith("wait 2 hours → email “thank-you” → wait 3 days")


def test_a_step_reached_by_two_paths_at_different_times_names_both() -> None:
    definition = parse_definition(
        {
            "name": "Branches",
            "steps": [
                {"type": "split", "condition": {"kind": "opened"}, "else": "late"},
                {"type": "delay", "days": 1, "next": "mail"},
                {"type": "delay", "id": "late", "days": 3},
                {"type": "email", "id": "mail", "template": "t"},
            ],
        }
    )

    moments = step_moments(trigger_event="first_purchase", steps=list(definition.steps))

    assert moments[3] == "1 day after the first purchase or 3 days after the first purchase"
    assert step_moments(trigger_event="first_purchase", steps=[definition.steps[1], None]) == [
        "1 day after the first purchase",
        "",
    ]


def test_coupon_suggestions_put_the_ready_flows_own_first_without_repeating_it() -> None:
    own = {"kind": "percent", "amount": "10", "minimum_order": "0", "valid_days": 14}

    suggestions = suggested_programs(own=own, currency="EUR")

    assert [s.key for s in suggestions] == ["ready", "free-shipping-50", "fixed-5"]
    assert [s.label for s in suggestions] == [
        "10 % off, valid 14 days",
        "free shipping on orders of 50 EUR or more, valid 14 days",
        "5 EUR off on orders of 25 EUR or more, valid 14 days",
    ]


def test_timed_and_posted_triggers_qualify_who_they_would_start_today(store: Store) -> None:
    place_order(store, order_id="1", customer="ada", at=T0)
    Customer.objects.filter(external_id="ada").update(birthday=dt.date(1990, 3, 4))
    start_checkout(store, checkout_id="k1", customer="bob", at=T0)
    Event.objects.create(
        store=store,
        customer=Customer.objects.get(external_id="ada"),
        kind=EventKind.CUSTOM,
        occurred_at=T0,
        data={"name": "quiz_completed"},
    )
    later = T0 + dt.timedelta(hours=5)

    def count(now: dt.datetime = later, **trigger: object) -> int:
        return qualifying_customers(
            store=store, trigger=Trigger.model_validate(trigger), now=now
        ).count

    assert count(event="birthday") == 1
    assert count(event="checkout_abandoned", abandoned_hours=4) == 1
    assert count(event="checkout_abandoned", abandoned_hours=6) == 0
    assert count(event="custom", name="quiz_completed") == 1
    assert count(event="custom", name="other") == 0
    assert count(event="product_viewed") == 0
    assert count(event="first_order_anniversary") == 0
    assert count(now=T0.replace(year=2025), event="first_order_anniversary") == 1
