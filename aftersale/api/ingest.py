"""Endpoints through which a store's own system pushes orders and products."""

from django.http import HttpRequest
from ninja import Router, Status

from aftersale import clock
from aftersale.api.auth import STORE_KEY, request_store
from aftersale.api.schemas import (
    OrderAccepted,
    OrderIn,
    ProductIn,
    ProductsAccepted,
    order_record,
    product_record,
)
from aftersale.integrations.services import receive_orders, receive_products

router = Router(auth=STORE_KEY, tags=["ingest"])


@router.post("/orders", response={200: OrderAccepted, 201: OrderAccepted})
def post_order(request: HttpRequest, order: OrderIn) -> Status[OrderAccepted]:
    """Store an order (201 when new; 200 when it was seen before, which only adds the
    lifecycle timestamps it lacked) and let the store's flows react to it."""
    store = request_store(request)
    record = order_record(order, default_currency=store.currency)
    result = receive_orders(store=store, records=[record], now=clock.now())
    created = bool(result.created)
    return Status(201 if created else 200, OrderAccepted(id=order.id, created=created))


@router.post("/products", response=ProductsAccepted)
def post_products(request: HttpRequest, products: list[ProductIn]) -> ProductsAccepted:
    """Create or update catalog products; blank fields keep the stored values."""
    ids = receive_products(
        store=request_store(request), records=[product_record(p) for p in products]
    )
    return ProductsAccepted(received=len(ids))
