"""Coupon programs (validated terms), codes issued to customers or generated in bulk
ahead of time, and noticing when orders redeem them."""

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When

from aftersale.coupons.models import (
    Coupon,
    CouponProgram,
    DiscountKind,
    ShopCodeSync,
    ShopPriceRule,
    ShopSync,
)
from aftersale.coupons.selectors import shop_code_expiry, shop_terms
from aftersale.customers.models import Customer
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.stores.models import Store

# Codes get typed in by hand: no 0/O and no 1/I/L. 31 characters, 9 of them: 31**9 is
# about 2**44.6 codes, over the 2**40 that makes a code unguessable.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 9
# Bulk generation inserts this many codes at a time: memory stays bounded at any count.
BULK_BATCH = 2_000
MAX_BULK = 100_000
_PREFIX = re.compile(r"^[A-Z0-9]{1,12}$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,120}$")
_MAX_AMOUNT = Decimal("99999999.99")  # what a DecimalField(10, 2) holds
TERMS = ("kind", "amount", "minimum_order", "valid_days", "code_prefix")


class InvalidProgram(ValueError):
    """Terms refused: `errors` maps each bad field's name to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in errors.items()))
        self.errors = dict(errors)


class InvalidCount(ValueError):
    """A bulk generation asked for no codes or more than MAX_BULK."""


def validate_terms(terms: Mapping[str, object]) -> dict[str, object]:
    """The terms cleaned (kind, Decimal amounts, int valid_days, prefix), or
    InvalidProgram naming every bad field: kind one of percent, fixed, free_shipping;
    a percent more than 0 and at most 100; amounts at least 0 with at most two
    decimals; valid_days 1 to 365; code_prefix 1 to 12 of A-Z and 0-9."""
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    for name in terms:
        if name not in TERMS:
            errors[name] = f"unknown term (the terms are {', '.join(TERMS)})"
    kind = str(terms.get("kind", ""))
    if kind not in DiscountKind.values:
        errors["kind"] = "must be one of percent, fixed, free_shipping"
    else:
        clean["kind"] = kind
    for name in ("amount", "minimum_order"):
        amount = _amount(terms.get(name, "0"))
        if isinstance(amount, str):
            errors[name] = amount
        else:
            clean[name] = amount
    off = clean.get("amount")
    if kind == DiscountKind.PERCENT and isinstance(off, Decimal) and not 0 < off <= 100:
        errors["amount"] = "a percent off must be more than 0 and at most 100"
    if kind == DiscountKind.FREE_SHIPPING and "amount" in clean:
        clean["amount"] = Decimal("0")
    days = terms.get("valid_days", 14)
    if isinstance(days, bool) or not isinstance(days, int | str) or not str(days).isdigit():
        errors["valid_days"] = "must be a whole number of days from 1 to 365"
    elif not 1 <= int(days) <= 365:
        errors["valid_days"] = "must be from 1 to 365 days"
    else:
        clean["valid_days"] = int(days)
    prefix = str(terms.get("code_prefix", "THANKS"))
    if not _PREFIX.match(prefix):
        errors["code_prefix"] = "must be 1 to 12 capital letters A-Z or digits"
    else:
        clean["code_prefix"] = prefix
    if errors:
        raise InvalidProgram(errors)
    return clean


def _amount(value: object) -> Decimal | str:
    """`value` as an amount, or what is wrong with it."""
    if isinstance(value, bool | float):
        return "must be a decimal number such as 5 or 4.99"
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return "must be a decimal number such as 5 or 4.99"
    if not amount.is_finite():
        return "must be a decimal number such as 5 or 4.99"
    if amount < 0:
        return "must be 0 or more"
    # The bound first: quantizing an amount of hundreds of digits overflows the context.
    if amount > _MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        return "must have at most two decimals and be under 100,000,000"
    return amount


def save_program(*, store: Store, slug: str, **terms: object) -> CouponProgram:
    """Create the coupon program `slug` with the given terms, or change the terms given
    of an existing one (the others stay). The terms as they would be are validated
    first: InvalidProgram names each bad field and nothing is stored."""
    if not _SLUG.match(slug):
        raise InvalidProgram({"slug": "must be 1 to 120 letters, digits, - or _"})
    existing = CouponProgram.objects.filter(store=store, slug=slug).first()
    current: dict[str, object] = (
        {name: getattr(existing, name) for name in TERMS} if existing is not None else {}
    )
    clean = validate_terms({**current, **terms})
    program, _ = CouponProgram.objects.update_or_create(store=store, slug=slug, defaults=clean)
    return program


def issue_coupon(*, program: CouponProgram, customer: Customer, now: dt.datetime) -> Coupon:
    """Give `customer` a code of `program`, valid from `now` for the program's valid
    days: the oldest code generated in bulk that nobody has yet, else a new unique code.
    When the store's codes go to its shop first (require_shop_sync), the code is
    `pending` until the shop sync has created it there: an email giving it waits.

    Issue happens when the email is queued, so an order placed after it redeems even
    when it arrives before the send is recorded. The customer's orders already stored
    that were placed within the validity (an order ingested before the scheduler cut the
    code for a send due earlier) are checked again here, so the coupon redeems at once.
    Orders placed before the issue are not: nobody could have had the code then, and a
    bulk code the store imported to its platform was not yet this customer's."""
    sync = _sync_of(program)
    expires_at = _expiry(program, now, sync)
    coupon = _hand_out_pooled(program, customer, now, expires_at, sync)
    if coupon is None:
        coupon = _new_coupon(program, customer, now, expires_at, sync)
    stored = Order.objects.filter(
        store_id=program.store_id,
        customer=customer,
        placed_at__gte=now,
        placed_at__lte=expires_at,
    ).exclude(discount_codes=[])
    matching = [o for o in stored if coupon.code in _codes_of(o)]
    if matching:
        record_redemptions(store=program.store, orders=matching)
        coupon.refresh_from_db()
    return coupon


def issue_coupons(
    *, program: CouponProgram, customer_ids: Sequence[int], now: dt.datetime
) -> dict[int, Coupon]:
    """Give each of `customer_ids` (distinct, in the order the codes are handed out) a
    code of `program` issued at `now`, as issue_coupon would give it to each in turn:
    the program's oldest bulk codes nobody has yet to the first customers, new unique
    codes to the rest, the same expiry and shop sync, and the customers' orders already
    stored within the validity checked for redemption. A few statements for the whole
    batch, however large. Call inside the transaction that queues the emails giving
    them: a batch rolled back hands out nothing. Returns each customer's coupon."""
    if not customer_ids:
        return {}
    sync = _sync_of(program)
    expires_at = _expiry(program, now, sync)
    coupons = _hand_out_pooled_to_many(program, customer_ids, now, expires_at, sync)
    rest = [c for c in customer_ids if c not in coupons]
    coupons.update(_new_coupons(program, rest, now, expires_at, sync))
    stored = Order.objects.filter(
        store_id=program.store_id,
        customer_id__in=list(customer_ids),
        placed_at__gte=now,
        placed_at__lte=expires_at,
    ).exclude(discount_codes=[])
    matching = [o for o in stored if coupons[o.customer_id].code in _codes_of(o)]
    if matching:
        record_redemptions(store=program.store, orders=matching)
        for order in matching:
            coupons[order.customer_id].refresh_from_db()
    return coupons


def _hand_out_pooled_to_many(
    program: CouponProgram,
    customer_ids: Sequence[int],
    now: dt.datetime,
    expires_at: dt.datetime,
    sync: str,
) -> dict[int, Coupon]:
    """Tie the program's oldest unassigned codes to the first of `customer_ids`, one
    each, in one UPDATE whose condition skips a code another worker took meanwhile
    (its customer goes on to a new code)."""
    pooled = list(
        Coupon.objects.filter(program=program, customer__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)[: len(customer_ids)]
    )
    if not pooled:
        return {}
    owner = dict(zip(pooled, customer_ids, strict=False))
    Coupon.objects.filter(pk__in=pooled, customer__isnull=True).update(
        customer_id=Case(*(When(pk=pk, then=Value(c)) for pk, c in owner.items())),
        issued_at=now,
        expires_at=expires_at,
        shop_sync=sync,
    )
    taken = Coupon.objects.select_related("program").filter(pk__in=pooled)
    return {c.customer_id: c for c in taken if c.customer_id == owner[c.pk]}  # type: ignore[misc]


def _new_coupons(
    program: CouponProgram,
    customer_ids: Sequence[int],
    now: dt.datetime,
    expires_at: dt.datetime,
    sync: str,
) -> dict[int, Coupon]:
    """A new unique code for each of `customer_ids`: one look-up of the codes drawn
    that the store already has (drawn again) and one INSERT; a code taken meanwhile by
    another writer rolls the INSERT back and the whole draw is made again."""
    if not customer_ids:
        return {}
    for _ in range(5):
        codes: dict[int, str] = {}
        drawn: set[str] = set()
        for customer_id in customer_ids:
            while (code := f"{program.code_prefix}-{_random_code()}") in drawn:
                pass
            codes[customer_id] = code
            drawn.add(code)
        taken = set(
            Coupon.objects.filter(store_id=program.store_id, code__in=drawn).values_list(
                "code", flat=True
            )
        )
        if taken:
            continue  # a code collision: 31**9 codes make one vanishingly rare
        rows = [
            Coupon(
                store_id=program.store_id,
                program=program,
                customer_id=customer_id,
                code=code,
                issued_at=now,
                expires_at=expires_at,
                shop_sync=sync,
            )
            for customer_id, code in codes.items()
        ]
        try:
            with transaction.atomic():
                Coupon.objects.bulk_create(rows)
        except IntegrityError:
            continue
        return {row.customer_id: row for row in rows if row.customer_id is not None}
    raise RuntimeError(f"could not find free coupon codes for program {program.slug}")


def _hand_out_pooled(
    program: CouponProgram,
    customer: Customer,
    now: dt.datetime,
    expires_at: dt.datetime,
    sync: str,
) -> Coupon | None:
    """Tie the oldest unassigned code to `customer`; the UPDATE's condition makes two
    workers racing for one code take two different ones."""
    for _ in range(20):
        pooled = (
            Coupon.objects.filter(program=program, customer__isnull=True)
            .order_by("id")
            .values_list("pk", flat=True)
            .first()
        )
        if pooled is None:
            return None
        taken = Coupon.objects.filter(pk=pooled, customer__isnull=True).update(
            customer=customer, issued_at=now, expires_at=expires_at, shop_sync=sync
        )
        if taken:
            return Coupon.objects.select_related("program").get(pk=pooled)
    return None


def _new_coupon(
    program: CouponProgram,
    customer: Customer,
    now: dt.datetime,
    expires_at: dt.datetime,
    sync: str,
) -> Coupon:
    for _ in range(5):
        try:
            with transaction.atomic():
                return Coupon.objects.create(
                    store_id=program.store_id,
                    program=program,
                    customer=customer,
                    code=f"{program.code_prefix}-{_random_code()}",
                    issued_at=now,
                    expires_at=expires_at,
                    shop_sync=sync,
                )
        except IntegrityError:
            continue  # a code collision: 31**9 codes make a second one vanishingly rare
    raise RuntimeError(f"could not find a free coupon code for program {program.slug}")


def _expiry(program: CouponProgram, now: dt.datetime, sync: str) -> dt.datetime:
    """When a code of `program` issued at `now` expires: `valid_days` later, and for a
    code going to the store's shop (`sync` pending) at the end of that day in the
    store's time zone, as the shop ends it (coupons.selectors.shop_code_expiry)."""
    expires_at = now + dt.timedelta(days=program.valid_days)
    if sync != ShopSync.PENDING:
        return expires_at
    return shop_code_expiry(store=program.store, expires_at=expires_at)


def _sync_of(program: CouponProgram) -> str:
    shop_first = ShopCodeSync.objects.filter(store_id=program.store_id).exists()
    return ShopSync.PENDING if shop_first else ShopSync.NOT_NEEDED


def generate_codes(*, program: CouponProgram, count: int, now: dt.datetime) -> int:
    """Add `count` (1 to 100,000) new unique codes to `program`, tied to nobody yet, to
    be handed out first when a flow issues one; return how many were added (`count`).
    Codes are drawn and inserted BULK_BATCH at a time (a draw already taken in the
    store is drawn again), all in one transaction: all are added or none."""
    if isinstance(count, bool) or not 1 <= count <= MAX_BULK:
        raise InvalidCount(f"count must be from 1 to {MAX_BULK:,}")
    added = 0
    with transaction.atomic():
        while added < count:
            wanted = min(BULK_BATCH, count - added)
            codes = {f"{program.code_prefix}-{_random_code()}" for _ in range(wanted)}
            taken = set(
                Coupon.objects.filter(store_id=program.store_id, code__in=codes).values_list(
                    "code", flat=True
                )
            )
            fresh = codes - taken
            try:
                with transaction.atomic():
                    Coupon.objects.bulk_create(
                        Coupon(
                            store_id=program.store_id,
                            program=program,
                            code=code,
                            issued_at=now,
                            expires_at=now,
                        )
                        for code in fresh
                    )
            except IntegrityError:
                continue  # another writer took one of them meanwhile: draw the batch again
            added += len(fresh)
    return added


def record_redemptions(*, store: Store, orders: Iterable[Order]) -> list[Coupon]:
    """Mark the store's issued coupons whose codes these orders used (case-insensitive,
    trimmed), when the order was placed while the coupon was valid and met its minimum;
    return those coupons. Of several orders using one code, the first placed that
    qualifies redeems it, also across calls: an order that arrives late but was placed
    before the one that redeemed the code takes its place, so the result does not
    depend on the order in which orders arrive. An order by someone other than the
    recipient redeems it for the program but is flagged `redeemed_by_other`, with its
    customer in `redeemed_by`. A minimum is in the store's currency: an order in another
    currency meets none (amounts in different currencies are never compared)."""
    orders_by_code: dict[str, list[Order]] = {}
    for order in sorted(orders, key=lambda o: (o.placed_at, o.pk)):
        if order.status not in NOT_PURCHASES:
            for code in _codes_of(order):
                orders_by_code.setdefault(code, []).append(order)
    if not orders_by_code:
        return []
    redeemed = []
    earliest = min(o.placed_at for found in orders_by_code.values() for o in found)
    candidates = Coupon.objects.filter(
        Q(redeemed_at__isnull=True) | Q(redeemed_at__gt=earliest),
        store=store,
        code__in=orders_by_code,
        customer__isnull=False,
    ).select_related("program")
    for coupon in candidates:
        first = next((o for o in orders_by_code[coupon.code] if _redeems(coupon, o, store)), None)
        if first is not None and (
            coupon.redeemed_at is None or first.placed_at < coupon.redeemed_at
        ):
            coupon.redeemed_at, coupon.redeemed_order = first.placed_at, first
            coupon.redeemed_by_id = first.customer_id
            coupon.redeemed_by_other = first.customer_id != coupon.customer_id
            coupon.save(
                update_fields=["redeemed_at", "redeemed_order", "redeemed_by", "redeemed_by_other"]
            )
            redeemed.append(coupon)
    return redeemed


def _codes_of(order: Order) -> set[str]:
    codes = order.discount_codes if isinstance(order.discount_codes, list) else []
    return {str(code).strip().upper() for code in codes if str(code).strip()}


def _redeems(coupon: Coupon, order: Order, store: Store) -> bool:
    minimum = coupon.program.minimum_order
    return coupon.issued_at <= order.placed_at <= coupon.expires_at and (
        not minimum or (order.currency == store.currency and order.total >= minimum)
    )


def _random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def require_shop_sync(*, store: Store, now: dt.datetime) -> int:
    """From `now` on every code `store` issues must be created in its shop before an email
    gives it: each is `pending` until mark_synced. The codes already given out that may
    still be used (not redeemed, not expired at `now`) become `pending` too, so a queued
    email with one waits for the shop as well. Return how many codes wait."""
    ShopCodeSync.objects.get_or_create(store=store, defaults={"since": now})
    live = Coupon.objects.filter(
        store=store,
        customer__isnull=False,
        redeemed_at__isnull=True,
        expires_at__gt=now,
        shop_sync=ShopSync.NOT_NEEDED,
    )
    # The shop ends them at the end of their expiry day: so does Aftersale from now on.
    waiting = 0
    while batch := list(live.order_by("pk")[:1000]):  # each batch leaves `live`
        for coupon in batch:
            coupon.shop_sync = ShopSync.PENDING
            coupon.expires_at = shop_code_expiry(store=store, expires_at=coupon.expires_at)
        Coupon.objects.bulk_update(batch, ["shop_sync", "expires_at"], batch_size=1000)
        waiting += len(batch)
    return waiting


def mark_synced(*, store: Store, coupon_ids: Sequence[int]) -> int:
    """Record that `store`'s shop knows the codes `coupon_ids` now (their emails may
    go); return how many were pending."""
    return Coupon.objects.filter(
        store=store, pk__in=list(coupon_ids), shop_sync=ShopSync.PENDING
    ).update(shop_sync=ShopSync.SYNCED)


def keep_price_rule(*, program: CouponProgram, ends_at: dt.datetime, shop_id: str) -> str:
    """Remember that the shop's price rule `shop_id` takes `program`'s codes (on its
    current terms) ending at `ends_at`, unless another worker kept one first: return
    the one kept."""
    kept, _ = ShopPriceRule.objects.get_or_create(
        program=program,
        terms=shop_terms(program),
        ends_at=ends_at,
        defaults={"store_id": program.store_id, "shop_id": shop_id},
    )
    return kept.shop_id


def forget_price_rule(*, program: CouponProgram, shop_id: str) -> int:
    """Forget the shop's price rule `shop_id` of `program` (the shop no longer has it):
    its codes still waiting get a new rule next time; return how many were forgotten."""
    return ShopPriceRule.objects.filter(program=program, shop_id=shop_id).delete()[0]
