"""Every store sees only its own data: each operation of the OpenAPI schema, called with
another store's key, finds nothing of the first store's (404 for an object it names,
empty lists; a PUT that creates makes the other store's own) and changes nothing of it."""

import datetime as dt
import json

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from aftersale.api.api import api
from aftersale.api.tests.test_ingest import ORDER
from aftersale.catalog.models import Product
from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.coupons.services import generate_codes
from aftersale.customers.models import Customer
from aftersale.dashboard.tests.conftest import report_scoring
from aftersale.flows.backtest_runs import queue_backtest
from aftersale.flows.models import BacktestRun, Enrollment, Flow, FlowVersion
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, upsell_definition
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.orders.models import Checkout, Order
from aftersale.recommendations.evaluation.records import save_evaluation
from aftersale.recommendations.models import EvaluationRun
from aftersale.stores.services import create_api_key, create_store
from aftersale.tracking.models import Event

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
OPERATIONS = sorted(
    (method, path)
    for path, methods in api.get_openapi_schema()["paths"].items()
    for method in methods
)
# The first store's object each path parameter names.
PATH_VALUES = {"{external_id}": {"products": "p1", "customers": "c1", "orders": "1001"}}
CUSTOMER = {"id": "c1", "email": "ada@example.com"}
BODIES: dict[tuple[str, str], object] = {
    ("post", "/api/v1/orders"): ORDER,
    ("post", "/api/v1/checkouts"): {
        "id": "k1",
        "customer": CUSTOMER,
        "started_at": "2024-03-01T10:00:00Z",
        "line_items": [{"product_id": "p1", "quantity": 1, "unit_price": "9.99"}],
    },
    ("post", "/api/v1/events"): {
        "customer": CUSTOMER,
        "event": "quiz",
        "occurred_at": "2024-03-01T10:00:00Z",
    },
    ("post", "/api/v1/products"): [{"id": "p1", "name": "Other store's mug"}],
    ("post", "/api/v1/flows"): {"slug": "upsell", "definition": upsell_definition()},
    ("put", "/api/v1/flows/{slug}"): {"definition": upsell_definition()},
    ("put", "/api/v1/templates/{slug}"): {"subject": "Taken over", "body_mjml": "<mjml></mjml>"},
    ("post", "/api/v1/templates/{slug}/preview"): {"customer_id": "c1"},
    ("post", "/api/v1/flows/{slug}/backtests"): {"days": 30},
    ("put", "/api/v1/coupon-programs/{slug}"): {"kind": "fixed", "amount": "99"},
    ("post", "/api/v1/coupon-programs/{slug}/codes"): {"count": 5},
}
# A PUT that creates: the other store gets a program of its own (201), the first keeps its.
CREATES = {("put", "/api/v1/coupon-programs/{slug}")}
MODELS = (
    Product,
    Customer,
    Order,
    Checkout,
    Flow,
    FlowVersion,
    Enrollment,
    Message,
    Event,
    EmailTemplate,
    EvaluationRun,
    BacktestRun,
    CouponProgram,
    Coupon,
)


@pytest.fixture
def first_store(store, client: Client) -> EvaluationRun:
    """A store with a product, a customer, an order, a flow with a backtest, a template
    and an evaluation run of its own, all named by the ids the other store's requests
    use; the run."""
    add_templates(store, T0, "thank-you", "offer", "reminder", "upsell")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    queue_backtest(flow=flow, days=30, now=T0)
    generate_codes(program=CouponProgram.objects.get(store=store, slug=flow.slug), count=3, now=T0)
    client.post(
        "/api/v1/orders",
        ORDER,
        content_type="application/json",
        headers={"X-API-Key": create_api_key(store=store, name="test", now=T0)[1]},
    )
    return save_evaluation(
        report=report_scoring(0.5),
        dataset="Test Shop order history",
        store=store,
        cut=dt.date(2024, 2, 1),
        validation_cut=dt.date(2024, 1, 1),
        quick=True,
        seconds=1.0,
        now=T0,
    )


# Endpoints that answer the calling store's own summary rather than a list.
STORE_SUMMARIES = {("get", "/api/v1/report")}


def _snapshot(store) -> dict[str, list[dict]]:
    return {
        model.__name__: [model_to_dict(row) for row in model.objects.filter(store=store)]
        for model in MODELS
    }


def _url(path: str, run: EvaluationRun) -> str:
    path = path.replace("{run_id}", str(run.pk))
    for parameter, by_collection in PATH_VALUES.items():
        if parameter in path:
            collection = path.removeprefix("/api/v1/").split("/")[0]
            path = path.replace(parameter, by_collection[collection])
    return path.replace("{slug}", "upsell")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_another_stores_key_finds_nothing_of_this_store_and_changes_nothing(
    client: Client, store, first_store, method, path
):
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=T0,
    )
    before = _snapshot(store)
    body = BODIES.get((method, path))
    operation = api.get_openapi_schema()["paths"][path][method]
    assert body is not None or "requestBody" not in operation, f"add a body for {path}"

    backtest = BacktestRun.objects.get(store=store)
    response = client.generic(
        method.upper(),
        _url(path, first_store).replace("{backtest_id}", str(backtest.pk)),
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers={"Authorization": f"Bearer {create_api_key(store=other, name='test', now=T0)[1]}"},
    )

    if (method, path) in CREATES:
        assert response.status_code == 201, response.content
    elif "{" in path:
        assert response.status_code == 404, response.content
    elif (method, path) in STORE_SUMMARIES:
        answer = response.json()  # the other store's own summary, of nobody
        assert (answer["store"], answer["customers"], answer["cohorts"]) == ("other-shop", 0, [])
    elif method == "get":
        answer = response.json()
        assert answer in ([], {"count": 0, "items": []}), answer
    else:
        assert response.status_code < 300, response.content
    assert _snapshot(store) == before
