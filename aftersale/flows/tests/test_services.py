"""Flows' own writes that the engine tests do not cover."""

import datetime as dt

from aftersale.flows.models import Enrollment, Flow, FlowVersion
from aftersale.flows.services import delete_flow, install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.messaging.models import Message
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def test_deleting_a_flow_removes_its_versions_journeys_and_emails_and_nothing_else(store):
    add_templates(store, T0, "thank-you", "cross-sell-offer", "offer-reminder")
    doomed = install_flow(store=store, slug="doomed", definition=upsell_definition(), now=T0)
    kept = install_flow(store=store, slug="kept", definition=upsell_definition(), now=T0)
    order = place_order(store, order_id="o1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)

    assert delete_flow(store=store, slug="doomed") is True

    assert list(Flow.objects.values_list("slug", flat=True)) == ["kept"]
    assert not FlowVersion.objects.filter(flow_id=doomed.pk).exists()
    assert not Enrollment.objects.filter(flow_id=doomed.pk).exists()
    assert not Message.objects.filter(flow_id=doomed.pk).exists()
    assert Enrollment.objects.filter(flow=kept).count() == 1


def test_deleting_a_flow_another_store_has_changes_nothing(store):
    add_templates(store, T0, "thank-you", "cross-sell-offer", "offer-reminder")
    install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Other", slug="other", now=T0
    )

    assert delete_flow(store=other, slug="upsell") is False
    assert Flow.objects.filter(store=store, slug="upsell").exists()
