"""Segments: membership evaluated by the database.

Every membership check goes through `members`, which also asserts that the store-wide
query, `segment_size` and the per-customer `is_in_segment` agree.
"""

import datetime as dt
import itertools
from decimal import Decimal

from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import unsubscribe, upsert_customers
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.segments.definition import parse_segment
from aftersale.segments.selectors import customers_in_segment, is_in_segment, segment_size
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.tracking.models import Event, EventKind

NOW = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
_order_ids = itertools.count(1)


def buy(
    store: Store,
    customer: str,
    *,
    days_ago: float,
    total: str = "20.00",
    category: str = "dairy",
    status: str = "",
) -> None:
    """`customer` (created on first use) placed an order `days_ago` before NOW, of one
    product of `category`; `status` "refunded" or "cancelled" undoes it a day later."""
    placed_at = NOW - days_ago * DAY
    undone = {f"{status}_at": placed_at + DAY} if status else {}
    record = OrderRecord(
        external_id=f"o{next(_order_ids)}",
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=placed_at,
        line_items=(LineItemRecord(f"p-{category}", 1, Decimal(total), category=category),),
        **undone,  # type: ignore[arg-type]
    )
    ingest_orders(store=store, records=[record], now=placed_at)


def browse(store: Store, *customers: str) -> None:
    """Customers who never bought anything."""
    records = [CustomerRecord(external_id=c, email=f"{c}@example.com") for c in customers]
    upsert_customers(store=store, records=records, now=NOW - 100 * DAY)


def customer(store: Store, external_id: str) -> Customer:
    return Customer.objects.get(store=store, external_id=external_id)


def engage(store: Store, who: str, kind: str, *, days_ago: float, machine: bool = False) -> None:
    """Record an email event of `who` (opens carry the tracker's machine flag)."""
    Event.objects.create(
        store=store,
        customer=customer(store, who),
        kind=kind,
        occurred_at=NOW - days_ago * DAY,
        data={"machine": machine} if kind == EventKind.OPENED else {},
    )


def members(store: Store, definition: object, *, now: dt.datetime = NOW) -> set[str]:
    """External ids of the store's customers in the segment, after checking that the
    store-wide query, its size and the one-customer check all agree."""
    segment = parse_segment(definition)
    found = set(
        customers_in_segment(store=store, segment=segment, now=now).values_list(
            "external_id", flat=True
        )
    )
    assert segment_size(store=store, segment=segment, now=now) == len(found)
    one_by_one = {
        c.external_id
        for c in Customer.objects.filter(store=store)
        if is_in_segment(customer=c, segment=segment, now=now)
    }
    assert one_by_one == found
    return found


# Purchase counts and time


def test_first_time_and_repeat_count_purchases_only(store):
    buy(store, "ann", days_ago=5)
    buy(store, "bob", days_ago=9)
    buy(store, "bob", days_ago=3)
    for days_ago in (30, 20, 10):
        buy(store, "cat", days_ago=days_ago)
    buy(store, "eve", days_ago=8)
    buy(store, "eve", days_ago=4, status="refunded")
    buy(store, "fay", days_ago=8)
    buy(store, "fay", days_ago=4, status="cancelled")
    buy(store, "gus", days_ago=8)
    buy(store, "gus", days_ago=-2)  # after NOW: not placed yet
    browse(store, "dan")

    assert members(store, {"type": "first_time"}) == {"ann", "eve", "fay", "gus"}
    assert members(store, {"type": "repeat"}) == {"bob", "cat"}
    assert members(store, {"type": "repeat", "min_orders": 3}) == {"cat"}
    assert members(store, {"type": "first_time"}, now=NOW + 3 * DAY) == {"ann", "eve", "fay"}


def test_dormant_buyers_bought_once_but_not_in_the_last_days(store):
    buy(store, "ann", days_ago=40)
    buy(store, "bob", days_ago=40)
    buy(store, "bob", days_ago=10)
    buy(store, "cat", days_ago=30)  # exactly 30 days ago is not within the last 30
    buy(store, "eve", days_ago=60)
    buy(store, "eve", days_ago=5, status="refunded")
    browse(store, "dan")

    assert members(store, {"type": "dormant", "days": 30}) == {"ann", "cat", "eve"}
    assert members(store, {"type": "dormant", "days": 50}) == {"eve"}
    assert members(store, {"type": "dormant", "days": 30}, now=NOW + 25 * DAY) == {
        "ann",
        "bob",
        "cat",
        "eve",
    }


def test_category_buyers_within_an_optional_window(store):
    buy(store, "ann", days_ago=3, category="coffee")
    buy(store, "bob", days_ago=45, category="coffee")
    buy(store, "cat", days_ago=3, category="tea")
    buy(store, "eve", days_ago=3, category="coffee", status="refunded")
    buy(store, "eve", days_ago=3, category="tea")

    assert members(store, {"type": "purchased_category", "category": "coffee"}) == {
        "ann",
        "bob",
    }
    recent = {"type": "purchased_category", "category": "coffee", "days": 30}
    assert members(store, recent) == {"ann"}
    assert members(store, {"type": "purchased_category", "category": "cocoa"}) == set()


# Money


def test_order_value_by_average_total_or_last_order(store):
    buy(store, "ann", days_ago=9, total="10.00")
    buy(store, "ann", days_ago=2, total="90.00")  # average 50, total 100, last 90
    buy(store, "bob", days_ago=9, total="90.00")
    buy(store, "bob", days_ago=2, total="30.00")  # average 60, total 120, last 30
    buy(store, "bob", days_ago=1, total="500.00", status="refunded")
    buy(store, "cat", days_ago=2, total="45.00")
    browse(store, "dan")

    assert members(store, {"type": "order_value", "min": 50}) == {"ann", "bob"}
    assert members(store, {"type": "order_value", "measure": "total", "min": "100"}) == {
        "ann",
        "bob",
    }
    last_big = {"type": "order_value", "measure": "last", "min": 40, "max": 90}
    assert members(store, last_big) == {"ann", "cat"}
    assert members(store, {"type": "order_value", "max": 50}) == {"ann", "cat"}


def test_high_spenders_by_total_or_by_their_place_among_buyers(store):
    for n in range(1, 11):
        buy(store, f"b{n:02}", days_ago=n, total=f"{10 * n}.00")
    buy(store, "b01", days_ago=1, total="1000.00", status="refunded")
    browse(store, "dan")

    assert members(store, {"type": "high_spender", "min_total": 80}) == {"b08", "b09", "b10"}
    assert members(store, {"type": "high_spender", "top_percent": 20}) == {"b09", "b10"}
    # b08 has 20 % of the buyers ahead of it, which is within the top 25 %.
    assert members(store, {"type": "high_spender", "top_percent": 25}) == {"b08", "b09", "b10"}
    assert len(members(store, {"type": "high_spender", "top_percent": 100})) == 10


# RFM


def rfm_store(store: Store) -> None:
    """Ten buyers: b<k> placed k orders of 10.00 (frequency and monetary rank them k-th);
    the most recent last purchases are b10's, b08's, b02's and b01's, in that order."""
    last_days_ago = {10: 1, 8: 2, 2: 3, 1: 4, 3: 10, 4: 11, 5: 12, 6: 13, 7: 14, 9: 15}
    for k, last in last_days_ago.items():
        for j in range(k):
            buy(store, f"b{k:02}", days_ago=last + 20 * j, total="10.00")
    browse(store, "dan")


def test_rfm_scores_split_the_buyers_into_fifths(store):
    rfm_store(store)

    def scored(measure: str, score: int) -> set[str]:
        return members(store, {"type": "rfm", measure: {"min": score, "max": score}})

    assert [scored("frequency", s) for s in range(1, 6)] == [
        {"b01", "b02"},
        {"b03", "b04"},
        {"b05", "b06"},
        {"b07", "b08"},
        {"b09", "b10"},
    ]
    assert scored("monetary", 5) == {"b09", "b10"}
    assert [scored("recency", s) for s in (5, 4, 1)] == [
        {"b10", "b08"},
        {"b02", "b01"},
        {"b09", "b07"},
    ]


def test_rfm_champions_are_recent_and_frequent(store):
    rfm_store(store)
    champions = {"type": "rfm", "recency": {"min": 4}, "frequency": {"min": 4}}

    assert members(store, champions) == {"b08", "b10"}
    assert members(store, {"not": champions}) == {f"b{k:02}" for k in range(1, 11)} - {
        "b08",
        "b10",
    } | {"dan"}


def test_buyers_with_equal_values_share_a_score(store):
    for name in ("ann", "bob", "cat", "eve"):
        buy(store, name, days_ago=3)
    buy(store, "fay", days_ago=5)
    buy(store, "fay", days_ago=4)

    assert members(store, {"type": "rfm", "frequency": {"max": 1}}) == {
        "ann",
        "bob",
        "cat",
        "eve",
    }
    assert members(store, {"type": "rfm", "frequency": {"min": 5}}) == {"fay"}


def test_rfm_ranks_only_purchases_made_by_now(store):
    rfm_store(store)
    buy(store, "b01", days_ago=-1)  # tomorrow b01 becomes the most recent buyer

    assert "b01" not in members(store, {"type": "rfm", "recency": {"min": 5}})
    later = members(store, {"type": "rfm", "recency": {"min": 5}}, now=NOW + DAY)
    assert later == {"b01", "b10"}


# Email behaviour and consent


def test_engaged_customers_opened_or_clicked_in_the_last_days(store):
    for name in ("ann", "bob", "cat", "eve", "fay", "gus"):
        buy(store, name, days_ago=60)
    engage(store, "ann", EventKind.OPENED, days_ago=5)
    engage(store, "bob", EventKind.CLICKED, days_ago=20)
    engage(store, "cat", EventKind.OPENED, days_ago=2, machine=True)  # a privacy proxy
    engage(store, "eve", EventKind.UNSUBSCRIBED, days_ago=1)
    engage(store, "fay", EventKind.OPENED, days_ago=-1)  # tomorrow
    engage(store, "gus", EventKind.OPENED, days_ago=45)

    assert members(store, {"type": "engaged", "days": 30}) == {"ann", "bob"}
    assert members(store, {"type": "engaged", "days": 7}) == {"ann"}
    assert members(store, {"type": "engaged", "days": 30, "actions": ["clicked"]}) == {"bob"}


def test_unsubscribed_and_accepts_marketing_follow_consent_as_of_now(store):
    browse(store, "ann", "bob", "cat")
    no_consent = CustomerRecord("dan", "dan@example.com", accepts_marketing=False)
    upsert_customers(store=store, records=[no_consent], now=NOW)
    unsubscribe(customer=customer(store, "bob"), now=NOW - DAY)
    unsubscribe(customer=customer(store, "cat"), now=NOW + DAY)

    assert members(store, {"type": "unsubscribed"}) == {"bob"}
    assert members(store, {"type": "accepts_marketing"}) == {"ann", "cat"}
    assert members(store, {"type": "unsubscribed"}, now=NOW + 2 * DAY) == {"bob", "cat"}


# Combinators and scoping


def test_all_any_and_not_combine_conditions(store):
    buy(store, "ann", days_ago=40, category="coffee")
    buy(store, "bob", days_ago=40, category="tea")
    buy(store, "bob", days_ago=35, category="tea")
    buy(store, "cat", days_ago=2, category="coffee")
    browse(store, "dan")
    dormant = {"type": "dormant", "days": 30}
    coffee = {"type": "purchased_category", "category": "coffee"}

    assert members(store, {"all": [dormant, coffee]}) == {"ann"}
    assert members(store, {"any": [dormant, coffee]}) == {"ann", "bob", "cat"}
    assert members(store, {"not": coffee}) == {"bob", "dan"}
    assert members(store, {"all": [{"type": "repeat"}, {"not": coffee}]}) == {"bob"}
    assert members(store, {"not": {"any": [dormant, {"not": coffee}]}}) == {"cat"}


def test_a_negated_value_condition_includes_customers_without_purchases(store):
    buy(store, "ann", days_ago=3, total="80.00")
    buy(store, "bob", days_ago=3, total="20.00")
    browse(store, "dan")

    assert members(store, {"not": {"type": "order_value", "min": 50}}) == {"bob", "dan"}
    last = {"type": "order_value", "measure": "last", "min": 50}
    assert members(store, {"not": last}) == {"bob", "dan"}


def test_customers_of_another_store_never_appear(store):
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=NOW,
    )
    for shop in (store, other):
        buy(shop, "ann", days_ago=40, category="coffee")
    for k in range(1, 6):
        buy(other, "big", days_ago=k, total="100.00")
    buy(other, "new", days_ago=1, category="coffee")

    assert members(store, {"type": "dormant", "days": 30}) == {"ann"}
    assert members(store, {"type": "purchased_category", "category": "coffee"}) == {"ann"}
    assert members(store, {"type": "high_spender", "top_percent": 50}) == {"ann"}
    assert members(store, {"type": "rfm", "recency": {"min": 1}}) == {"ann"}
    assert members(store, {"not": {"type": "first_time"}}) == set()
    # The other store's ann is ranked among her own store's buyers, behind big and new.
    assert members(other, {"type": "rfm", "recency": {"min": 2}}) == {"big", "new"}
