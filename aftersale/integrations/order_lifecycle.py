"""Order lifecycle news a platform sends apart from the order itself (a shipment
delivered, an order deleted), applied to a stored order and shown to attribution and
the flows as receive_orders does (integrations.services: the single door)."""

import datetime as dt

from django.db import transaction

from aftersale.attribution.services import attribute_orders
from aftersale.flows import services as flows
from aftersale.orders import services as order_lifecycle
from aftersale.stores.models import Store


def receive_fulfillment(
    *,
    store: Store,
    external_id: str,
    fulfilled_at: dt.datetime,
    delivered_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Fill in when order `external_id` was fulfilled and delivered (a delivered order
    starts the flows' delivery trigger) and, when it changed, let the flows react, as
    receive_orders does; False when the order is unknown or nothing was new."""
    with transaction.atomic():
        order_id = order_lifecycle.record_fulfillment(
            store=store,
            external_id=external_id,
            fulfilled_at=fulfilled_at,
            delivered_at=delivered_at,
        )
        if order_id is None:
            return False
        flows.process_orders(store=store, order_ids=[order_id], now=now)
    return True


def receive_cancellation(
    *, store: Store, external_id: str, cancelled_at: dt.datetime, now: dt.datetime
) -> bool:
    """Cancel order `external_id` (a shop deleted it: it no longer counts as a
    purchase) and, when it changed, credit it again and let the flows react, as
    receive_orders does; False when the order is unknown or cancelled already."""
    with transaction.atomic():
        order_id = order_lifecycle.cancel_order(
            store=store, external_id=external_id, cancelled_at=cancelled_at
        )
        if order_id is None:
            return False
        attribute_orders(store=store, order_ids=[order_id])
        flows.process_orders(store=store, order_ids=[order_id], now=now)
    return True
