"""Endpoints through which a store's own system pushes orders, checkouts, events and
products."""

from django.http import HttpRequest
from ninja import Body, Status
from ninja.errors import ValidationError

from aftersale.api.auth import request_store
from aftersale.api.routes import router
from aftersale.api.schemas import (
    ERRORS,
    CheckoutAccepted,
    CheckoutIn,
    EventAccepted,
    EventIn,
    OrderAccepted,
    OrderIn,
    ProductIn,
    ProductsAccepted,
    checkout_record,
    customer_record,
    order_record,
    product_record,
)
from aftersale.integrations.services import (
    InvalidEvent,
    receive_checkouts,
    receive_event,
    receive_orders,
    receive_products,
)
from aftersale.lib import bounds, clock

TAGS = ["ingest"]


@router.post("/orders", response={200: OrderAccepted, 201: OrderAccepted, **ERRORS}, tags=TAGS)
def post_order(request: HttpRequest, order: OrderIn) -> Status[OrderAccepted]:
    """Store an order (201 when new; 200 when it was seen before, which only adds the
    lifecycle timestamps it lacked) and let the store's flows react to it."""
    store = request_store(request)
    record = order_record(order, default_currency=store.currency)
    result = receive_orders(store=store, records=[record], now=clock.now())
    created = bool(result.created)
    return Status(201 if created else 200, OrderAccepted(id=order.id, created=created))


@router.post(
    "/checkouts", response={200: CheckoutAccepted, 201: CheckoutAccepted, **ERRORS}, tags=TAGS
)
def post_checkout(request: HttpRequest, checkout: CheckoutIn) -> Status[CheckoutAccepted]:
    """Store a checkout (201 when new; 200 when it was seen before, which only adds what
    it lacked: completion, its order, the recovery link, and new lines while it is
    open). One left without an order starts checkout recovery flows later."""
    store = request_store(request)
    record = checkout_record(checkout, default_currency=store.currency)
    result = receive_checkouts(store=store, records=[record], now=clock.now())
    created = bool(result.created)
    return Status(201 if created else 200, CheckoutAccepted(id=checkout.id, created=created))


@router.post("/events", response={201: EventAccepted, **ERRORS}, tags=TAGS)
def post_event(request: HttpRequest, event: EventIn) -> Status[EventAccepted]:
    """Record what a customer did in the store: `product_viewed` (properties.product_id
    is the store's product id) or any event the store names, and start the flows it
    triggers."""
    try:
        recorded = receive_event(
            store=request_store(request),
            customer=customer_record(event.customer),
            name=event.event,
            occurred_at=event.occurred_at,
            properties=event.properties,
            now=clock.now(),
        )
    except InvalidEvent as error:
        loc = ["body", "event", *error.field]
        raise ValidationError([{"loc": loc, "msg": str(error), "type": "value_error"}]) from error
    return Status(201, EventAccepted(id=recorded.pk, kind=recorded.kind))


# At most MAX_PRODUCTS_PER_BATCH products a request: send a larger catalog in pages.
_PRODUCT_BATCH = Body(..., max_length=bounds.MAX_PRODUCTS_PER_BATCH)


@router.post("/products", response={200: ProductsAccepted, **ERRORS}, tags=TAGS)
def post_products(
    request: HttpRequest, products: list[ProductIn] = _PRODUCT_BATCH
) -> ProductsAccepted:
    """Create or update catalog products; blank fields keep the stored values."""
    ids = receive_products(
        store=request_store(request), records=[product_record(p) for p in products]
    )
    return ProductsAccepted(received=len(ids))
