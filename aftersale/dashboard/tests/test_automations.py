"""The Automations page through Django's test client: the ready flows as cards with Set
up, the store's own flows with status, version, customers in them and headline numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.flows.models import Flow, FlowStatus
from aftersale.flows.selectors import library_flow_slugs
from aftersale.flows.services import install_library_flow, process_orders
from aftersale.flows.tests.helpers import place_order
from aftersale.lib import clock
from aftersale.messaging.models import EmailTemplate
from aftersale.stores.models import Store
from aftersale.stores.services import create_store


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


def test_the_page_shows_every_ready_flow_with_what_it_does_and_its_steps(
    signed_in: Client, store: Store
) -> None:
    page = signed_in.get(reverse("dashboard:automations", args=[store.slug])).content.decode()

    assert len(library_flow_slugs()) == 6
    for slug in library_flow_slugs():
        assert f'data-ready="{slug}"' in page
    assert "Post-purchase upsell" in page and "Thanks first-time buyers" in page
    assert "wait 2 hours → email “thank-you” → wait 3 days" in page
    assert "No flow yet" in page
    assert reverse("dashboard:flow-new", args=[store.slug]) in page


def test_set_up_installs_the_ready_flow_as_a_draft_with_its_templates_and_opens_the_builder(
    signed_in: Client, store: Store
) -> None:
    answer = signed_in.post(
        reverse("dashboard:flow-setup", args=[store.slug, "post-purchase-upsell"])
    )

    assert answer.status_code == 302
    assert answer["Location"] == reverse(
        "dashboard:flow-edit", args=[store.slug, "post-purchase-upsell"]
    )
    flow = Flow.objects.get(store=store)
    assert (flow.slug, flow.status, flow.versions.count()) == (
        "post-purchase-upsell",
        FlowStatus.DRAFT,
        1,
    )
    slugs = set(EmailTemplate.objects.filter(store=store).values_list("slug", flat=True))
    assert {"thank-you", "cross-sell-offer", "offer-reminder"} <= slugs


def test_a_second_set_up_of_the_same_ready_flow_makes_slug_2_rather_than_failing(
    signed_in: Client, store: Store
) -> None:
    url = reverse("dashboard:flow-setup", args=[store.slug, "win-back"])
    signed_in.post(url)
    second = signed_in.post(url)

    assert second["Location"] == reverse("dashboard:flow-edit", args=[store.slug, "win-back-2"])
    assert sorted(Flow.objects.values_list("slug", flat=True)) == ["win-back", "win-back-2"]


def test_the_stores_flows_are_listed_with_status_version_and_an_edit_link(
    signed_in: Client, store: Store
) -> None:
    install_library_flow(store=store, slug="review-request", now=clock.now())
    install_library_flow(store=store, slug="review-request", now=clock.now())

    page = signed_in.get(reverse("dashboard:automations", args=[store.slug])).content.decode()

    assert 'data-flow="review-request"' in page
    assert "status-live" in page and "<dd>2</dd>" in page
    assert reverse("dashboard:flow-edit", args=[store.slug, "review-request"]) in page


def test_each_flow_shows_its_headline_numbers_and_links_to_its_report_and_backtest(
    signed_in: Client, store: Store
) -> None:
    start = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    install_library_flow(store=store, slug="post-purchase-upsell", now=start)
    for n, customer in enumerate(("ada", "bob", "cy")):
        first = place_order(store, order_id=f"o{n}", customer=customer, at=start, total="10.00")
        process_orders(store=store, order_ids=[first.pk], now=start)
    again = place_order(
        store, order_id="o9", customer="ada", at=start + dt.timedelta(days=1), total="42.50"
    )
    process_orders(store=store, order_ids=[again.pk], now=start + dt.timedelta(days=1))

    with clock.use_clock(clock.VirtualClock(start + dt.timedelta(days=2))):
        page = signed_in.get(reverse("dashboard:automations", args=[store.slug])).content
    text = page.decode()

    assert "<dt>Started</dt><dd>3</dd>" in text
    assert "<dt>Purchased</dt><dd>33.3 % (1)</dd>" in text
    assert "<dt>Revenue</dt><dd>$42.50 USD</dd>" in text  # the code: "$" alone is no currency
    for name in ("dashboard:flow-report", "dashboard:flow-backtest"):
        assert reverse(name, args=[store.slug, "post-purchase-upsell"]) in text


def test_set_up_of_an_unknown_ready_flow_is_404_and_another_merchants_store_too(
    signed_in: Client, store: Store
) -> None:
    other = create_store(name="Other", slug="other", now=clock.now())
    assert (
        signed_in.post(reverse("dashboard:flow-setup", args=[store.slug, "nope"])).status_code
        == 404
    )
    assert signed_in.get(reverse("dashboard:automations", args=[other.slug])).status_code == 404
    assert (
        signed_in.post(reverse("dashboard:flow-setup", args=[other.slug, "win-back"])).status_code
        == 404
    )
    assert not Flow.objects.exists()
