"""A customer's recommendations, and their personal data: export and erasure (GDPR)."""

from django.http import HttpRequest
from ninja import Query

from aftersale.api.auth import request_store
from aftersale.api.errors import found, without_nul
from aftersale.api.read_schemas import (
    READ_ERRORS,
    CustomerDataOut,
    ErasedOut,
    PickOut,
    RecommendationQuery,
    RecommendationsOut,
)
from aftersale.api.routes import router
from aftersale.catalog.selectors import products_by_id
from aftersale.customers.models import Customer
from aftersale.customers.selectors import customer_by_external_id
from aftersale.integrations.personal_data import (
    CustomerData,
    customer_data,
    erase_customer_data,
)
from aftersale.lib import clock
from aftersale.orders.selectors import latest_basket
from aftersale.recommendations.selectors import recommend

TAGS = ["customers"]


def _customer(request: HttpRequest, external_id: str) -> Customer:
    without_nul(external_id, loc=["path", "external_id"])
    customer = customer_by_external_id(store=request_store(request), external_id=external_id)
    return found(customer, loc=["path", "external_id"], what="such customer")


@router.get(
    "/customers/{external_id}/recommendations",
    response={200: RecommendationsOut, **READ_ERRORS},
    tags=TAGS,
)
def get_recommendations(
    request: HttpRequest, external_id: str, query: Query[RecommendationQuery]
) -> RecommendationsOut:
    """What an email of `strategy` would show the customer after their latest purchase,
    each pick with its reason (docs/recommendations.md)."""
    store, customer = request_store(request), _customer(request, external_id)
    picks = recommend(
        store=store,
        customer_id=customer.pk,
        basket_product_ids=latest_basket(store=store, customer_id=customer.pk),
        now=clock.now(),
        strategy=query.strategy,
        limit=query.limit,
    )
    wanted = [p.product_id for p in picks] + [p.upgrade_of for p in picks if p.upgrade_of]
    products = products_by_id(store=store, ids=wanted)
    return RecommendationsOut(
        customer_id=customer.external_id,
        strategy=query.strategy,
        picks=[
            PickOut(
                product_id=products[p.product_id].external_id,
                name=products[p.product_id].name,
                reason=p.reason,
                strategy=p.strategy,
                upgrade_of=products[p.upgrade_of].external_id if p.upgrade_of else None,
                price_difference=p.price_difference,
            )
            for p in picks
        ],
    )


@router.get(
    "/customers/{external_id}/data", response={200: CustomerDataOut, **READ_ERRORS}, tags=TAGS
)
def export_customer_data(request: HttpRequest, external_id: str) -> CustomerData:
    """Everything stored about the customer: profile, orders, checkouts, emails and
    events (a data subject's access request)."""
    return customer_data(store=request_store(request), customer=_customer(request, external_id))


@router.delete("/customers/{external_id}", response={200: ErasedOut, **READ_ERRORS}, tags=TAGS)
def erase_customer(request: HttpRequest, external_id: str) -> ErasedOut:
    """Erase the customer's personal data (address, names, shipping addresses, what was
    written to them, their tracking events); every report keeps its numbers. Their id
    then names no one: a later order with it, or with their address, is a new
    customer."""
    customer = _customer(request, external_id)
    erase_customer_data(store=request_store(request), customer=customer, now=clock.now())
    return ErasedOut(id=external_id)
