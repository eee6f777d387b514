"""A flow's unique coupon codes created in the store's Shopify shop before an email gives
them, through the REST Admin API: a price rule (`price_rules.json`) for a program's
offer (percent or fixed amount off, or free shipping, above the minimum, each code used
once) and the day its codes expire (Shopify ends a rule, not a code: one rule per
program, terms and day of expiry, ending at that day's end in the store's time zone),
then the rule's waiting codes 100 at a time as a discount-code batch job
(`price_rules/{id}/batch.json`), polled until it is completed, whose results say which
codes the shop now has. A code is marked synced only once the shop lists it (created, or
refused only because it already has it), so an email never gives a code the shop does
not know: while a code is `pending` its email is not due (messaging.outbox.selectors).

The worker calls `sync_waiting_codes` every pass. One request each, short timeouts and
no retries inside a pass: a shop that does not answer, rate-limits (429) or refuses the
token leaves its codes pending, is logged, and is tried again RETRY_AFTER later, so one
unreachable shop never stalls the sending of the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from aftersale.coupons.models import CouponProgram, DiscountKind
from aftersale.coupons.selectors import (
    kept_price_rule,
    pending_shop_codes,
    pending_shop_coupons,
    stores_with_pending_shop_codes,
)
from aftersale.coupons.services import forget_price_rule, keep_price_rule, mark_synced
from aftersale.integrations.models import PlatformConnection
from aftersale.integrations.platforms.catalog_sync import API_VERSION, AdminShop, admin_shop
from aftersale.lib import clock
from aftersale.stores.models import Store

BATCH_SIZE = 100  # Shopify's most discount codes in one batch job
CODES_PER_PASS = 500  # a pass creates at most this many codes per store
BATCH_POLLS = 5  # a job still running after these polls is posted again next pass
POLL_SECONDS = 1.0
TIMEOUT = (3.05, 10.0)  # connect, read: a shop that is away costs a pass seconds
RETRY_AFTER = dt.timedelta(seconds=60)
logger = logging.getLogger(__name__)

# This process's stores whose shop failed, and when to try again (in clock time).
_retry_at: dict[int, dt.datetime] = {}


class ShopUnreachable(RuntimeError):
    """The shop did not take the request (no answer, 429, 5xx, a refused token): the
    codes stay pending and their emails wait."""


class RuleGone(ShopUnreachable):
    """The shop answered 404 for a price rule's path: it has no such rule (any more)."""


@dataclass(frozen=True)
class CouponSync:
    """What one sync of a store did: codes created in the shop, codes still waiting."""

    synced: int
    waiting: int


def sync_store_codes(
    *,
    store: Store,
    origin: str = "",
    session: requests.Session | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> CouponSync:
    """Create in `store`'s Shopify shop (the connection's, at `origin` when given) up to
    CODES_PER_PASS of its `pending` codes, the price rule of their program and day of
    expiry first (once, then remembered: coupons.ShopPriceRule), and mark synced those
    the shop lists as known. A kept price rule the shop no longer has (deleted in its
    admin: 404) is forgotten, and made again next time. Raises ShopUnreachable when the
    shop does not take a request: what was synced before stays synced, the rest stays
    pending; CatalogUnavailable when the store has no admin access. Running it twice, or
    beside another worker, creates no code twice."""
    shop = admin_shop(store=store, origin=origin)
    http = session or requests.Session()
    synced = 0
    for (program, ends_at), coupons in pending_shop_codes(
        store=store, limit=CODES_PER_PASS
    ).items():
        rule = kept_price_rule(program=program, ends_at=ends_at) or _create_price_rule(
            http, shop, program, ends_at=ends_at
        )
        try:
            for start in range(0, len(coupons), BATCH_SIZE):
                batch = coupons[start : start + BATCH_SIZE]
                known = _create_codes(http, shop, rule, [c.code for c in batch], wait=wait)
                ids = [c.pk for c in batch if c.code.upper() in known]
                synced += mark_synced(store=store, coupon_ids=ids)
        except RuleGone:
            forget_price_rule(program=program, shop_id=rule)
            logger.warning("price rule %s of store %s is gone from its shop", rule, store.slug)
    waiting = pending_shop_coupons(store=store).count()
    return CouponSync(synced=synced, waiting=waiting)


def sync_waiting_codes(
    *,
    origin: str = "",
    session: requests.Session | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> int:
    """The worker's part of a pass: for each store with codes waiting and Shopify Admin
    access, create its codes in its shop (sync_store_codes). A shop that fails is logged
    and left alone for RETRY_AFTER (its emails waiting meanwhile), then tried again; a
    store without admin access has no pending codes. Return the codes synced."""
    now, synced = clock.now(), 0
    waiting = stores_with_pending_shop_codes()
    if not waiting:
        return 0
    connections = PlatformConnection.objects.filter(
        platform="shopify", store_id__in=waiting
    ).exclude(admin_token="")
    for connection in connections.select_related("store").order_by("store_id"):
        if _retry_at.get(connection.store_id, now) > now:
            continue
        try:
            done = sync_store_codes(
                store=connection.store, origin=origin, session=session, wait=wait
            )
        except ShopUnreachable as error:
            _retry_at[connection.store_id] = now + RETRY_AFTER
            logger.warning(
                "coupon codes of store %s wait for its shop: %s", connection.store.slug, error
            )
            continue
        _retry_at.pop(connection.store_id, None)
        synced += done.synced
    return synced


def price_rule(program: CouponProgram, *, now: dt.datetime, ends_at: dt.datetime) -> dict[str, Any]:
    """The `price_rules.json` body of `program`'s offer for its codes ending at `ends_at`:
    a percentage or fixed amount off the order's lines, or its shipping free, for orders
    from the program's minimum subtotal; each code once (`usage_limit` counts per code),
    once per customer; from `now` (an hour before `ends_at` at the latest) to `ends_at`."""
    rule: dict[str, Any] = {
        "title": f"Aftersale {program.slug} until {ends_at:%Y-%m-%d %H:%M} UTC"[:255],
        "target_type": "line_item",
        "target_selection": "all",
        "allocation_method": "across",
        "customer_selection": "all",
        "once_per_customer": True,
        "usage_limit": 1,
        # never after its end: a code whose day ended while the shop was away still
        # gets a rule (its email goes; Aftersale counts no use after its expiry)
        "starts_at": min(now, ends_at - dt.timedelta(hours=1)).isoformat(),
        "ends_at": ends_at.isoformat(),
    }
    if program.kind == DiscountKind.PERCENT:
        rule |= {"value_type": "percentage", "value": f"-{program.amount:.2f}"}
    elif program.kind == DiscountKind.FIXED:
        rule |= {"value_type": "fixed_amount", "value": f"-{program.amount:.2f}"}
    else:
        rule |= {
            "target_type": "shipping_line",
            "allocation_method": "each",
            "value_type": "percentage",
            "value": "-100.0",
        }
    if program.minimum_order:
        rule["prerequisite_subtotal_range"] = {
            "greater_than_or_equal_to": f"{program.minimum_order:.2f}"
        }
    return {"price_rule": rule}


def _create_price_rule(
    http: requests.Session, shop: AdminShop, program: CouponProgram, *, ends_at: dt.datetime
) -> str:
    rule = price_rule(program, now=clock.now(), ends_at=ends_at)
    body = _call(http, shop, "POST", "price_rules.json", rule)
    try:
        created = str(body["price_rule"]["id"])
    except (KeyError, TypeError) as error:
        raise ShopUnreachable(f"price_rules.json: no price_rule.id ({error})") from error
    return keep_price_rule(program=program, ends_at=ends_at, shop_id=created)


def _create_codes(
    http: requests.Session,
    shop: AdminShop,
    rule: str,
    codes: list[str],
    *,
    wait: Callable[[float], None],
) -> set[str]:
    """Create `codes` under price rule `rule` in one batch job and wait for it: the codes
    (upper case) the shop now has, created or refused only because it has them already;
    none when the job has not finished after BATCH_POLLS polls (posted again next time:
    the codes it made by then come back as already there)."""
    batch = f"price_rules/{rule}/batch"
    posted = {"discount_codes": [{"code": code} for code in codes]}
    job = _job(_call(http, shop, "POST", f"{batch}.json", posted))
    for _ in range(BATCH_POLLS):
        if job.get("status") == "completed":
            break
        wait(POLL_SECONDS)
        job = _job(_call(http, shop, "GET", f"{batch}/{job['id']}.json"))
    else:
        return set()
    results = _call(http, shop, "GET", f"{batch}/{job['id']}/discount_codes.json")
    known = set()
    for result in results.get("discount_codes") or []:
        if not isinstance(result, dict):
            continue
        errors = result.get("errors") or {}
        messages = errors.get("code", []) if isinstance(errors, dict) else []
        already = any("unique" in str(m) or "taken" in str(m) for m in messages)
        if (result.get("id") and not errors) or already:
            known.add(str(result.get("code", "")).upper())
    return known


def _job(body: Any) -> dict[str, Any]:
    job = body.get("discount_code_creation") if isinstance(body, dict) else None
    if not isinstance(job, dict) or "id" not in job:
        raise ShopUnreachable("no discount_code_creation job in the answer")
    return job


def _call(
    http: requests.Session,
    shop: AdminShop,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> Any:
    """One request to the shop's Admin API: its JSON answer; ShopUnreachable for no
    answer, 401/403, 429, any status other than 200/201, or a body that is not JSON."""
    url = f"{shop.origin}/admin/api/{API_VERSION}/{path}"
    try:
        response = http.request(
            method,
            url,
            json=body,
            headers={"X-Shopify-Access-Token": shop.token, "Accept": "application/json"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as error:
        raise ShopUnreachable(f"{path}: cannot reach the shop ({error})") from error
    if response.status_code in (401, 403):
        raise ShopUnreachable(f"{path}: the shop refused the admin API token")
    if response.status_code == 429:
        raise ShopUnreachable(f"{path}: rate limited (429)")
    if response.status_code == 404 and path.startswith("price_rules/"):
        raise RuleGone(f"{path}: the shop has no such price rule (404)")
    if response.status_code not in (200, 201):
        raise ShopUnreachable(f"{path}: answered {response.status_code}")
    try:
        return response.json()
    except ValueError as error:
        raise ShopUnreachable(f"{path}: the answer is not JSON") from error
