"""Reading the store's products, customers and orders: lists a page at a time with
filters, and one by the store's own id."""

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from ninja import Query

from aftersale.api.auth import request_store
from aftersale.api.errors import found, without_nul
from aftersale.api.read_schemas import (
    READ_ERRORS,
    CustomerFilters,
    CustomerOut,
    CustomerPage,
    OrderFilters,
    OrderOut,
    OrderPage,
    Page,
    ProductFilters,
    ProductOut,
    ProductPage,
)
from aftersale.api.routes import router
from aftersale.catalog.models import Product
from aftersale.catalog.selectors import product_by_external_id, store_products
from aftersale.customers.models import Customer
from aftersale.customers.selectors import customer_by_external_id, store_customers
from aftersale.orders.models import Order
from aftersale.orders.selectors import order_by_external_id, store_orders

TAGS = ["read"]


def _page(rows: QuerySet[Model], page: Page) -> dict[str, object]:
    """One page of `rows` and how many there are in all."""
    return {"count": rows.count(), "items": list(rows[page.offset : page.offset + page.limit])}


def text_filters(filters: Page) -> None:
    """Refuse with 422, naming the query parameter, a text filter holding a NUL
    character: PostgreSQL refuses it in a text comparison (a server error otherwise),
    and no stored value holds one. Every list endpoint's filters pass through here."""
    for name, value in filters.model_dump().items():
        if isinstance(value, str):
            without_nul(value, loc=["query", name])


@router.get("/products", response={200: ProductPage, **READ_ERRORS}, tags=TAGS)
def list_products(request: HttpRequest, filters: Query[ProductFilters]) -> dict[str, object]:
    """The store's products in the order they were first seen, a page at a time."""
    text_filters(filters)
    products = store_products(
        store=request_store(request),
        category=filters.category,
        in_stock=filters.in_stock,
        updated_since=filters.updated_since,
    )
    return _page(products, filters)


@router.get("/products/{external_id}", response={200: ProductOut, **READ_ERRORS}, tags=TAGS)
def get_product(request: HttpRequest, external_id: str) -> Product:
    """One product, by the store's product id."""
    without_nul(external_id, loc=["path", "external_id"])
    product = product_by_external_id(store=request_store(request), external_id=external_id)
    return found(product, loc=["path", "external_id"], what="such product")


@router.get("/customers", response={200: CustomerPage, **READ_ERRORS}, tags=TAGS)
def list_customers(request: HttpRequest, filters: Query[CustomerFilters]) -> dict[str, object]:
    """The store's customers in the order they were first seen, a page at a time."""
    text_filters(filters)
    customers = store_customers(
        store=request_store(request),
        email=filters.email,
        accepts_marketing=filters.accepts_marketing,
        created_since=filters.created_since,
    )
    return _page(customers, filters)


@router.get("/customers/{external_id}", response={200: CustomerOut, **READ_ERRORS}, tags=TAGS)
def get_customer(request: HttpRequest, external_id: str) -> Customer:
    """One customer, by the store's customer id."""
    without_nul(external_id, loc=["path", "external_id"])
    customer = customer_by_external_id(store=request_store(request), external_id=external_id)
    return found(customer, loc=["path", "external_id"], what="such customer")


@router.get("/orders", response={200: OrderPage, **READ_ERRORS}, tags=TAGS)
def list_orders(request: HttpRequest, filters: Query[OrderFilters]) -> dict[str, object]:
    """The store's orders in the order they arrived, with their line items, a page at
    a time."""
    text_filters(filters)
    orders = store_orders(
        store=request_store(request),
        customer_external_id=filters.customer_id,
        placed_since=filters.placed_since,
        placed_until=filters.placed_until,
    )
    return _page(orders, filters)


@router.get("/orders/{external_id}", response={200: OrderOut, **READ_ERRORS}, tags=TAGS)
def get_order(request: HttpRequest, external_id: str) -> Order:
    """One order with its line items, by the store's order id."""
    without_nul(external_id, loc=["path", "external_id"])
    order = order_by_external_id(store=request_store(request), external_id=external_id)
    return found(order, loc=["path", "external_id"], what="such order")
