"""Issuing unique coupon codes and noticing when later orders redeem them."""

import datetime as dt
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.customers.models import Customer
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.stores.models import Store

# No 0/O or 1/I: codes get typed in by hand.
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CODE_LENGTH = 8


def save_program(*, store: Store, slug: str, **terms: object) -> CouponProgram:
    """Create or update the coupon program `slug` with the given terms."""
    program, _ = CouponProgram.objects.update_or_create(store=store, slug=slug, defaults=terms)
    return program


def issue_coupon(*, program: CouponProgram, customer: Customer, now: dt.datetime) -> Coupon:
    """Cut a new unique code from `program` for `customer`, valid from `now`."""
    expires_at = now + dt.timedelta(days=program.valid_days)
    for _ in range(5):
        code = f"{program.code_prefix}-{_random_code()}"
        try:
            with transaction.atomic():
                return Coupon.objects.create(
                    store_id=program.store_id,
                    program=program,
                    customer=customer,
                    code=code,
                    issued_at=now,
                    expires_at=expires_at,
                )
        except IntegrityError:
            continue  # a code collision: 32**8 codes make a second one vanishingly rare
    raise RuntimeError(f"could not find a free coupon code for program {program.slug}")


def record_redemptions(*, store: Store, orders: Iterable[Order]) -> list[Coupon]:
    """Mark the store's unredeemed coupons whose codes these orders used, when the order
    was placed while the coupon was valid and met its minimum; return those coupons. Of
    several orders using one code, the first placed that qualifies redeems it."""
    orders_by_code: dict[str, list[Order]] = {}
    for order in sorted(orders, key=lambda o: (o.placed_at, o.pk)):
        if order.status not in NOT_PURCHASES:
            for code in order.discount_codes:
                orders_by_code.setdefault(code.strip().upper(), []).append(order)
    if not orders_by_code:
        return []
    redeemed = []
    candidates = Coupon.objects.filter(
        store=store, code__in=orders_by_code, redeemed_at__isnull=True
    ).select_related("program")
    for coupon in candidates:
        first = next((o for o in orders_by_code[coupon.code] if _redeems(coupon, o)), None)
        if first is not None:
            coupon.redeemed_at, coupon.redeemed_order = first.placed_at, first
            coupon.save(update_fields=["redeemed_at", "redeemed_order"])
            redeemed.append(coupon)
    return redeemed


def _redeems(coupon: Coupon, order: Order) -> bool:
    return (
        coupon.issued_at <= order.placed_at <= coupon.expires_at
        and order.total >= coupon.program.minimum_order
    )


def _random_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
