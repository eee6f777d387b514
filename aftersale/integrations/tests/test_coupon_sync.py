"""A flow's unique codes are created in the store's Shopify shop before any email gives
them: the program's price rule (price_rules.json), then its codes by batch job, polled
until completed. While a code is pending its email is not due; a shop that does not
answer, rate-limits or refuses the token leaves it waiting and is tried again later; a
store without admin access mails its codes at once. The shop is a server on 127.0.0.1
answering with responses recorded in the shape Shopify's REST Admin API documents."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aftersale.coupons.models import Coupon, CouponProgram, ShopPriceRule, ShopSync
from aftersale.coupons.services import (
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.integrations.platforms import coupon_sync
from aftersale.integrations.platforms.catalog_sync import API_VERSION, connect_shopify_admin
from aftersale.integrations.platforms.coupon_sync import (
    ShopUnreachable,
    price_rule,
    sync_store_codes,
    sync_waiting_codes,
)
from aftersale.integrations.platforms.deliveries import connect_platform
from aftersale.integrations.tests.local_shop import serving
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message
from aftersale.messaging.outbox.selectors import due_messages
from aftersale.messaging.outbox.services import claim_due_messages
from aftersale.messaging.rendering.context import build_context
from aftersale.messaging.tests.factories import Scenario, make_customer, make_scenario
from aftersale.orders.models import Order
from aftersale.production import tasks
from aftersale.stores.models import Store

PAYLOADS = Path(__file__).parent / "payloads" / "shopify"
TOKEN = "shpat_0123456789abcdef"
PREFIX = f"/admin/api/{API_VERSION}/"
RULE, JOB = 507328175, 989355119


def _recorded(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@dataclass
class _ShopState:
    """What the recorded shop has been asked and what it holds."""

    requests: list[tuple[str, str, str, Any]] = field(default_factory=list)
    has: set[str] = field(default_factory=set)  # the codes the shop knows
    refuses: set[str] = field(default_factory=set)  # codes it answers with an error
    running_polls: int = 1  # how many polls find the job still running
    fail_with: int = 0  # a status to answer every request with
    batches: list[list[str]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # the price rules made
    deleted_rules: set[str] = field(default_factory=set)  # deleted in the shop's admin
    polls: int = 0


class _Shop(BaseHTTPRequestHandler):
    state: _ShopState

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self._record("POST", body):
            return
        if self.path == f"{PREFIX}price_rules.json":
            self.state.rules.append(body["price_rule"])
            made = _recorded("admin_price_rules_create.json")
            made["price_rule"] |= {**body["price_rule"], "id": RULE + len(self.state.rules) - 1}
            self._answer(201, made)
        elif any(f"/price_rules/{rule}/" in self.path for rule in self.state.deleted_rules):
            self._answer(404, {"errors": "Not Found"})
        elif re.fullmatch(rf"{PREFIX}price_rules/\d+/batch\.json", self.path):
            self.state.batches.append([c["code"] for c in body["discount_codes"]])
            self.state.polls = 0
            self._answer(201, _recorded("admin_discount_code_batch_queued.json"))
        else:
            self._answer(404, {"errors": "Not Found"})

    def do_GET(self) -> None:
        if self._record("GET", None):
            return
        if re.fullmatch(rf"{PREFIX}price_rules/\d+/batch/{JOB}\.json", self.path):
            self.state.polls += 1
            job = _recorded("admin_discount_code_batch_completed.json")
            if self.state.polls <= self.state.running_polls:
                job["discount_code_creation"]["status"] = "running"
            self._answer(200, job)
        elif re.fullmatch(rf"{PREFIX}price_rules/\d+/batch/{JOB}/discount_codes\.json", self.path):
            self._answer(200, self._results())
        else:
            self._answer(404, {"errors": "Not Found"})

    def _results(self) -> dict[str, Any]:
        """The recorded results, one per code of the last batch: created (the shop has
        it from now on), already there ("must be unique"), or refused."""
        created, refused, taken = _recorded("admin_discount_code_batch_codes.json")[
            "discount_codes"
        ]
        results = []
        for i, code in enumerate(self.state.batches[-1]):
            if code in self.state.refuses:
                template = refused
            elif code in self.state.has:
                template = taken
            else:
                template = {**created, "id": created["id"] + i}
                self.state.has.add(code)
            results.append({**copy.deepcopy(template), "code": code})
        return {"discount_codes": results}

    def _record(self, method: str, body: Any) -> bool:
        token = self.headers.get("X-Shopify-Access-Token", "")
        self.state.requests.append((method, self.path.removeprefix(PREFIX), token, body))
        if self.state.fail_with:
            self._answer(self.state.fail_with, {"errors": "Exceeded 2 calls per second"})
        return bool(self.state.fail_with)

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class RecordedShop:
    origin: str
    state: _ShopState


@pytest.fixture
def shop() -> Iterator[RecordedShop]:
    state = _ShopState()
    with serving(type("Shop", (_Shop,), {"state": state})) as origin:
        yield RecordedShop(origin, state)


@pytest.fixture(autouse=True)
def _on_the_clock(clock: VirtualClock) -> Iterator[None]:
    """Every decision of the tests (retry times, live codes) reads the test's clock, and
    no shop is left waiting for a retry by another test (store ids are reused)."""
    coupon_sync._retry_at.clear()
    with use_clock(clock):
        yield
    coupon_sync._retry_at.clear()


@pytest.fixture
def scenario(store: Store, clock: VirtualClock) -> Scenario:
    """A store without Shopify Admin access (its scenario's coupon made directly)."""
    return make_scenario(store, now=clock.now())


@pytest.fixture
def connected(store: Store, clock: VirtualClock) -> Scenario:
    """A store whose Shopify Admin access is kept, with its scenario made after."""
    _connect(store, clock)
    return make_scenario(store, now=clock.now())


def _connect(store: Store, clock: VirtualClock) -> None:
    connect_platform(store=store, platform="shopify", secret="webhook-secret", now=clock.now())
    connect_shopify_admin(store=store, shop_domain="paper-co.myshopify.com", admin_token=TOKEN)


def _coupon_email(scenario: Scenario, clock: VirtualClock, *, slug: str = "thanks") -> Message:
    program = save_program(store=scenario.store, slug=slug, kind="percent", amount="10")
    coupon = issue_coupon(program=program, customer=scenario.customer, now=clock.now())
    return scenario.message("thank-you", now=clock.now(), coupon=coupon)


def _no_wait(seconds: float) -> None:
    pass


def test_an_email_waits_while_its_code_is_not_in_the_shop_yet(
    connected: Scenario, clock: VirtualClock
) -> None:
    message = _coupon_email(connected, clock)

    assert message.coupon is not None
    assert message.coupon.shop_sync == ShopSync.PENDING
    assert message not in due_messages(now=clock.now())
    assert message not in claim_due_messages(now=clock.now())


def test_the_codes_are_created_under_the_programs_price_rule_and_then_the_email_goes(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    message = _coupon_email(connected, clock)
    waits: list[float] = []

    done = sync_store_codes(store=connected.store, origin=shop.origin, wait=waits.append)

    assert (done.synced, done.waiting) == (1, 0)
    assert [(method, path) for method, path, _, _ in shop.state.requests] == [
        ("POST", "price_rules.json"),
        ("POST", f"price_rules/{RULE}/batch.json"),
        ("GET", f"price_rules/{RULE}/batch/{JOB}.json"),  # queued, then still running
        ("GET", f"price_rules/{RULE}/batch/{JOB}.json"),  # completed
        ("GET", f"price_rules/{RULE}/batch/{JOB}/discount_codes.json"),
    ]
    assert {token for _, _, token, _ in shop.state.requests} == {TOKEN}
    assert waits == [1.0, 1.0]  # a second before each poll
    rule = shop.state.requests[0][3]["price_rule"]
    assert (rule["value_type"], rule["value"], rule["usage_limit"]) == ("percentage", "-10.00", 1)
    assert message.coupon is not None
    assert shop.state.requests[1][3] == {"discount_codes": [{"code": message.coupon.code}]}
    kept = ShopPriceRule.objects.get()
    assert (kept.shop_id, kept.program.slug) == (str(RULE), "thanks")
    # expires 2024-03-18 09:00 UTC: the rule ends at that day's end in the store's zone
    assert kept.ends_at == dt.datetime(2024, 3, 19, tzinfo=dt.UTC)
    assert rule["ends_at"] == "2024-03-19T00:00:00+00:00"
    message.coupon.refresh_from_db()
    assert message.coupon.shop_sync == ShopSync.SYNCED
    assert [m.pk for m in claim_due_messages(now=clock.now())] == [message.pk]

    sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)
    assert len(shop.state.requests) == 5  # nothing waits: the shop is not asked again


def test_a_code_the_shop_has_already_is_known_and_one_it_refuses_keeps_its_email_waiting(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    kept = _coupon_email(connected, clock)
    other = make_customer(connected.store, now=clock.now(), email="bo@example.com")
    program = CouponProgram.objects.get(slug="thanks")
    refused = issue_coupon(program=program, customer=other, now=clock.now())
    assert kept.coupon is not None
    shop.state.has.add(kept.coupon.code)
    shop.state.refuses.add(refused.code)

    done = sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)

    assert (done.synced, done.waiting) == (1, 1)
    assert kept in due_messages(now=clock.now())
    refused.refresh_from_db()
    assert refused.shop_sync == ShopSync.PENDING


def test_a_batch_still_running_is_posted_again_next_time_and_no_code_is_created_twice(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    message = _coupon_email(connected, clock)
    shop.state.running_polls = 99

    assert sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait).synced == 0
    assert message not in due_messages(now=clock.now())

    shop.state.running_polls = 0
    assert sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait).synced == 1
    assert message in due_messages(now=clock.now())
    assert [path for _, path, _, _ in shop.state.requests].count("price_rules.json") == 1
    assert len(shop.state.has) == 1


@pytest.mark.parametrize("status", [429, 401, 503])
def test_a_shop_that_rate_limits_refuses_the_token_or_fails_creates_nothing(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop, status: int
) -> None:
    message = _coupon_email(connected, clock)
    shop.state.fail_with = status

    with pytest.raises(ShopUnreachable):
        sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)

    assert message not in due_messages(now=clock.now())
    assert not ShopPriceRule.objects.exists()


def test_the_worker_pass_leaves_an_unreachable_shop_waiting_and_tries_it_again_a_minute_later(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    message = _coupon_email(connected, clock)

    assert sync_waiting_codes(origin="http://127.0.0.1:9", wait=_no_wait) == 0  # nobody there
    assert message not in due_messages(now=clock.now())
    assert sync_waiting_codes(origin=shop.origin, wait=_no_wait) == 0  # not yet: it waits
    assert shop.state.requests == []

    clock.advance(coupon_sync.RETRY_AFTER + dt.timedelta(seconds=1))
    assert sync_waiting_codes(origin=shop.origin, wait=_no_wait) == 1
    assert message in due_messages(now=clock.now())
    assert sync_waiting_codes(origin=shop.origin, wait=_no_wait) == 0


def test_keeping_admin_access_holds_the_live_codes_given_out_and_every_new_one(
    scenario: Scenario, clock: VirtualClock
) -> None:
    program = save_program(store=scenario.store, slug="thanks", kind="percent", amount="10")
    live = issue_coupon(program=program, customer=scenario.customer, now=clock.now())
    expired = Coupon.objects.create(
        store=scenario.store,
        program=program,
        customer=scenario.customer,
        code="THANKS-OLD",
        issued_at=clock.now() - dt.timedelta(days=30),
        expires_at=clock.now() - dt.timedelta(days=16),
    )
    generate_codes(program=program, count=1, now=clock.now())
    assert live.shop_sync == ShopSync.NOT_NEEDED

    _connect(scenario.store, clock)

    states = dict(Coupon.objects.values_list("code", "shop_sync"))
    assert states[live.code] == ShopSync.PENDING
    assert states[expired.code] == ShopSync.NOT_NEEDED
    pooled = Coupon.objects.get(customer__isnull=True)
    assert pooled.shop_sync == ShopSync.NOT_NEEDED  # nobody has it yet
    handed_out = issue_coupon(program=program, customer=scenario.customer, now=clock.now())
    assert (handed_out.pk, handed_out.shop_sync) == (pooled.pk, ShopSync.PENDING)
    new_program = save_program(store=scenario.store, slug="welcome", kind="fixed", amount="5")
    assert (
        issue_coupon(program=new_program, customer=scenario.customer, now=clock.now()).shop_sync
        == ShopSync.PENDING
    )


def test_a_store_without_admin_access_mails_its_codes_at_once(
    scenario: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    message = _coupon_email(scenario, clock)

    assert message.coupon is not None
    assert message.coupon.shop_sync == ShopSync.NOT_NEEDED
    assert message in due_messages(now=clock.now())
    assert sync_waiting_codes(origin=shop.origin, wait=_no_wait) == 0
    assert shop.state.requests == []


def test_the_price_rule_says_the_programs_terms(store: Store, clock: VirtualClock) -> None:
    fixed = save_program(store=store, slug="five-off", kind="fixed", amount="5", minimum_order="40")
    shipping = save_program(store=store, slug="ship", kind="free_shipping")

    ends_at = clock.now() + dt.timedelta(days=20)
    fixed_rule = price_rule(fixed, now=clock.now(), ends_at=ends_at)["price_rule"]
    shipping_rule = price_rule(shipping, now=clock.now(), ends_at=ends_at)["price_rule"]

    assert (fixed_rule["value_type"], fixed_rule["value"], fixed_rule["target_type"]) == (
        "fixed_amount",
        "-5.00",
        "line_item",
    )
    assert fixed_rule["prerequisite_subtotal_range"] == {"greater_than_or_equal_to": "40.00"}
    assert (fixed_rule["starts_at"], fixed_rule["ends_at"]) == (
        clock.now().isoformat(),
        ends_at.isoformat(),
    )
    assert (shipping_rule["target_type"], shipping_rule["value"]) == ("shipping_line", "-100.0")
    assert "prerequisite_subtotal_range" not in shipping_rule
    ended = price_rule(shipping, now=clock.now(), ends_at=clock.now() - dt.timedelta(days=1))
    assert ended["price_rule"]["starts_at"] < ended["price_rule"]["ends_at"]


def test_codes_expiring_on_other_days_or_under_changed_terms_get_their_own_price_rule(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    store = connected.store
    store.time_zone = "America/New_York"
    store.save()
    first = _coupon_email(connected, clock)  # expires Monday 18 March, 05:00 in New York
    clock.advance(dt.timedelta(hours=12))
    same_day = _coupon_email(connected, clock)  # 17:00 the same day there: the same rule
    clock.advance(dt.timedelta(days=1))
    next_day = _coupon_email(connected, clock)
    assert sync_store_codes(store=store, origin=shop.origin, wait=_no_wait).synced == 3
    program = save_program(store=store, slug="thanks", amount="15")
    coupon = issue_coupon(program=program, customer=connected.customer, now=clock.now())
    new_terms = connected.message("thank-you", now=clock.now(), coupon=coupon)  # same day

    assert sync_store_codes(store=store, origin=shop.origin, wait=_no_wait).synced == 1

    assert [(r["value"], r["ends_at"]) for r in shop.state.rules] == [
        ("-10.00", "2024-03-19T04:00:00+00:00"),  # midnight in New York (EDT)
        ("-10.00", "2024-03-20T04:00:00+00:00"),
        ("-15.00", "2024-03-20T04:00:00+00:00"),  # the new terms: a rule of their own
    ]
    assert [len(batch) for batch in shop.state.batches] == [2, 1, 1]
    for message in (first, same_day, next_day, new_terms):
        assert message in due_messages(now=clock.now())


def test_production_modes_sweep_task_syncs_the_codes_too_and_a_shop_away_leaves_them_waiting(
    store: Store, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    connect_platform(store=store, platform="shopify", secret="webhook-secret", now=clock.now())
    connect_shopify_admin(store=store, shop_domain="127.0.0.1:9", admin_token=TOKEN)  # nobody
    message = _coupon_email(make_scenario(store, now=clock.now()), clock)

    assert tasks.background_runs() == 0  # Celery's twin of the worker pass's runs

    assert "coupon codes of store test-shop wait for its shop" in caplog.text
    assert message not in due_messages(now=clock.now())


def test_a_price_rule_deleted_in_the_shop_is_forgotten_and_made_again(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    _coupon_email(connected, clock)
    sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)
    shop.state.deleted_rules.add(str(RULE))  # the merchant deleted it in Shopify's admin
    later = _coupon_email(connected, clock)

    done = sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)

    assert (done.synced, done.waiting) == (0, 1)
    assert not ShopPriceRule.objects.exists()
    assert later not in due_messages(now=clock.now())
    assert sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait).synced == 1
    assert ShopPriceRule.objects.get().shop_id == str(RULE + 1)
    assert later in due_messages(now=clock.now())


def test_a_code_for_the_shop_ends_at_the_end_of_its_day_in_the_store_zone_for_everyone(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    store = connected.store
    store.time_zone = "America/New_York"
    store.save()
    connected.customer.time_zone = "America/New_York"
    connected.customer.save()
    message = _coupon_email(connected, clock)  # 14 days: Monday 18 March, 05:00 there
    coupon = message.coupon
    assert coupon is not None
    end = dt.datetime(2024, 3, 19, 4, tzinfo=dt.UTC)  # midnight in New York (EDT)

    sync_store_codes(store=store, origin=shop.origin, wait=_no_wait)

    # Aftersale's own expiry is the shop's: the email, the reminders and the report read it.
    assert coupon.expires_at == end - dt.timedelta(microseconds=1)
    assert shop.state.rules[0]["ends_at"] == end.isoformat()
    shown = build_context(message=message, now=clock.now())["coupon"]
    assert (shown["expires_on"], shown["days_left"]) == ("March 18, 2024", 14)
    # An order late that evening redeems it, as the shop takes it; one after midnight not.
    late = _order_with(connected, coupon.code, "late", end - dt.timedelta(minutes=30))
    after = _order_with(connected, coupon.code, "after", end + dt.timedelta(minutes=1))
    assert record_redemptions(store=store, orders=[after]) == []
    assert [c.pk for c in record_redemptions(store=store, orders=[late])] == [coupon.pk]


def test_codes_given_out_before_the_connection_end_when_the_shop_ends_them(
    scenario: Scenario, clock: VirtualClock
) -> None:
    program = save_program(store=scenario.store, slug="thanks", kind="percent", amount="10")
    given = issue_coupon(program=program, customer=scenario.customer, now=clock.now())
    assert given.expires_at == clock.now() + dt.timedelta(days=14)  # no shop: to the minute

    _connect(scenario.store, clock)

    given.refresh_from_db()
    assert given.expires_at == dt.datetime(2024, 3, 18, 23, 59, 59, 999999, tzinfo=dt.UTC)


def test_codes_in_the_shop_keep_the_rule_they_were_mailed_with_and_new_codes_get_the_new_one(
    connected: Scenario, clock: VirtualClock, shop: RecordedShop
) -> None:
    mailed = _coupon_email(connected, clock)
    assert mailed.coupon is not None
    sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)
    before = len(shop.state.requests)

    program = save_program(store=connected.store, slug="thanks", amount="15", minimum_order="30")
    new = issue_coupon(program=program, customer=connected.customer, now=clock.now())
    sync_store_codes(store=connected.store, origin=shop.origin, wait=_no_wait)

    assert [(r["value"], r.get("prerequisite_subtotal_range")) for r in shop.state.rules] == [
        ("-10.00", None),
        ("-15.00", {"greater_than_or_equal_to": "30.00"}),
    ]
    # Only the new code went to the shop, under the new rule; the mailed one's rule and
    # code were not touched (no request names them).
    assert shop.state.batches == [[mailed.coupon.code], [new.code]]
    assert all(f"price_rules/{RULE}/" not in path for _, path, _, _ in shop.state.requests[before:])
    assert ShopPriceRule.objects.filter(program=program).count() == 2


def _order_with(scenario: Scenario, code: str, external_id: str, placed_at: dt.datetime) -> Order:
    return Order.objects.create(
        store=scenario.store,
        external_id=external_id,
        customer=scenario.customer,
        currency=scenario.store.currency,
        total=50,
        discount_codes=[code],
        placed_at=placed_at,
    )
