"""Reading coupons."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Q, QuerySet

from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind, ShopPriceRule, ShopSync
from aftersale.lib import bulk
from aftersale.stores.models import Store


def latest_coupon(*, program_id: int, customer_id: int) -> Coupon | None:
    """The newest coupon `program_id` issued to `customer_id`, if any."""
    return (
        Coupon.objects.filter(program_id=program_id, customer_id=customer_id)
        .order_by("-issued_at", "-id")
        .first()
    )


def latest_coupon_of(*, program_ids: list[int], customer_id: int) -> Coupon | None:
    """The newest coupon any of `program_ids` issued to `customer_id`, if any."""
    # One ordering for one customer and for many: both paths remind of the same code.
    return latest_coupons_of(program_ids=program_ids, customer_ids=[customer_id]).get(customer_id)


def latest_coupons_of(
    *, program_ids: Sequence[int], customer_ids: Sequence[int]
) -> dict[int, Coupon]:
    """latest_coupon_of for many customers: customer id -> the newest coupon any of
    `program_ids` issued them (the latest issue, then the highest id), for those of
    `customer_ids` who hold one. One query; it reads every code of those programs the
    customers hold (a few each) and keeps each customer's newest."""
    if not program_ids or not customer_ids:
        return {}
    held = Coupon.objects.filter(
        bulk.id_in("customer_id", customer_ids), bulk.id_in("program_id", program_ids)
    ).order_by("customer_id", "-issued_at", "-id")
    latest: dict[int, Coupon] = {}
    for coupon in held:
        assert coupon.customer_id is not None  # filtered on it
        latest.setdefault(coupon.customer_id, coupon)
    return latest


@dataclass(frozen=True)
class SuggestedProgram:
    """A coupon offer the flow builder proposes: `key` names it in a form."""

    key: str
    label: str
    kind: str
    amount: Decimal
    minimum_order: Decimal = Decimal("0")
    valid_days: int = 14

    def terms(self) -> dict[str, object]:
        """The terms as the flow definition's `coupon` has them (without a code prefix)."""
        return {
            "kind": self.kind,
            "amount": str(self.amount),
            "minimum_order": str(self.minimum_order),
            "valid_days": self.valid_days,
        }


# Offers that suit most shops, next to the ready flow's own.
STANDARD_SUGGESTIONS = (
    SuggestedProgram("percent-10", "", DiscountKind.PERCENT, Decimal("10"), valid_days=14),
    SuggestedProgram(
        "free-shipping-50", "", DiscountKind.FREE_SHIPPING, Decimal("0"), Decimal("50"), 14
    ),
    SuggestedProgram("fixed-5", "", DiscountKind.FIXED, Decimal("5"), Decimal("25"), 14),
)


def describe_terms(
    *, kind: str, amount: Decimal, minimum_order: Decimal, valid_days: int, currency: str
) -> str:
    """An offer in words: "15 % off, valid 14 days", "free shipping on orders of 50 USD or
    more, valid 14 days"."""
    if kind == DiscountKind.PERCENT:
        offer = f"{amount.normalize():f} % off"
    elif kind == DiscountKind.FIXED:
        offer = f"{amount.normalize():f} {currency} off"
    else:
        offer = "free shipping"
    if minimum_order:
        offer += f" on orders of {minimum_order.normalize():f} {currency} or more"
    return f"{offer}, valid {valid_days} day{'' if valid_days == 1 else 's'}"


def suggested_programs(*, own: dict[str, object] | None, currency: str) -> list[SuggestedProgram]:
    """The offers to pick from: `own` (a ready flow's `coupon` terms) first when given,
    then 10 % off, free shipping over 50 and 5 off orders of 25 or more (in `currency`),
    without repeating `own`, each labelled in words."""
    found: list[SuggestedProgram] = []
    if own is not None:
        found.append(
            SuggestedProgram(
                "ready",
                "",
                str(own["kind"]),
                Decimal(str(own.get("amount", "0"))),
                Decimal(str(own.get("minimum_order", "0"))),
                int(str(own.get("valid_days", 14))),
            )
        )
    for suggestion in STANDARD_SUGGESTIONS:
        if all(suggestion.terms() != s.terms() for s in found):
            found.append(suggestion)
    return [
        SuggestedProgram(
            s.key,
            describe_terms(
                kind=s.kind,
                amount=s.amount,
                minimum_order=s.minimum_order,
                valid_days=s.valid_days,
                currency=currency,
            ),
            s.kind,
            s.amount,
            s.minimum_order,
            s.valid_days,
        )
        for s in found
    ]


def program_by_slug(*, store: Store, slug: str) -> CouponProgram | None:
    """The store's coupon program `slug`, if there is one."""
    return CouponProgram.objects.filter(store=store, slug=slug).first()


@dataclass(frozen=True)
class ProgramSummary:
    """A program with its terms in words and what its codes did: `issued` codes handed to
    a customer, `redeemed` of them used in a qualifying order (by anyone), `flagged` of
    those used by someone other than the recipient, `unassigned` bulk codes not yet
    handed out."""

    program: CouponProgram
    terms: str
    issued: int
    redeemed: int
    flagged: int
    unassigned: int

    @property
    def redemption_rate(self) -> float | None:
        """Redeemed over issued (None before any code is issued)."""
        return self.redeemed / self.issued if self.issued else None

    @property
    def redemption_rate_text(self) -> str:
        """ "3 of 40 (7.5 %)", or "none issued"."""
        rate = self.redemption_rate
        if rate is None:
            return "none issued"
        return f"{self.redeemed:,} of {self.issued:,} ({rate * 100:.1f} %)"


def program_terms(*, program: CouponProgram) -> str:
    """The program's offer in words, amounts in the store's currency."""
    return describe_terms(
        kind=program.kind,
        amount=program.amount,
        minimum_order=program.minimum_order,
        valid_days=program.valid_days,
        currency=program.store.currency,
    )


def program_summaries(*, store: Store, slug: str | None = None) -> list[ProgramSummary]:
    """The store's programs by slug (or only `slug`), each with its counts, in one
    aggregated query."""
    programs = (
        CouponProgram.objects.filter(store=store)
        .select_related("store")
        .annotate(
            n_issued=Count("coupons", filter=Q(coupons__customer__isnull=False)),
            n_redeemed=Count(
                "coupons",
                filter=Q(coupons__customer__isnull=False, coupons__redeemed_at__isnull=False),
            ),
            n_flagged=Count(
                "coupons",
                filter=Q(coupons__customer__isnull=False, coupons__redeemed_by_other=True),
            ),
            n_unassigned=Count("coupons", filter=Q(coupons__customer__isnull=True)),
        )
        .order_by("slug")
    )
    if slug is not None:
        programs = programs.filter(slug=slug)
    return [
        ProgramSummary(
            program=p,
            terms=program_terms(program=p),
            issued=p.n_issued,
            redeemed=p.n_redeemed,
            flagged=p.n_flagged,
            unassigned=p.n_unassigned,
        )
        for p in programs
    ]


def program_codes(*, program: CouponProgram) -> QuerySet[Coupon]:
    """The program's codes, the latest first (handed out or generated), with the
    recipient, the order that redeemed it and who placed it."""
    return (
        Coupon.objects.filter(program=program)
        .select_related("customer", "redeemed_order", "redeemed_by")
        .order_by("-id")
    )


def pending_shop_codes(
    *, store: Store, limit: int
) -> dict[tuple[CouponProgram, dt.datetime], list[Coupon]]:
    """At most `limit` of `store`'s codes its shop must still be told of (`pending`: their
    emails wait), oldest first, by program and the end of the day they expire on
    (shop_rule_end): the codes one price rule of the shop takes."""
    pending = (
        Coupon.objects.filter(store=store, shop_sync=ShopSync.PENDING)
        .select_related("program")
        .order_by("program_id", "id")[:limit]
    )
    zone = _zone(store)
    by_rule: dict[tuple[CouponProgram, dt.datetime], list[Coupon]] = {}
    for coupon in pending:
        key = (coupon.program, shop_rule_end(expires_at=coupon.expires_at, zone=zone))
        by_rule.setdefault(key, []).append(coupon)
    return by_rule


def shop_rule_end(*, expires_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """When the shop ends a code expiring at `expires_at`: the end of that day in the
    store's time zone `zone` (the next midnight there, in UTC), so one price rule serves
    every code expiring that day and none ends before the day its email names."""
    day = expires_at.astimezone(zone).date()
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return midnight.astimezone(dt.UTC)


def shop_code_expiry(*, store: Store, expires_at: dt.datetime) -> dt.datetime:
    """The last moment `store`'s shop takes a code expiring at `expires_at`: just before
    the end of that day in the store's time zone (shop_rule_end), where its price rule
    ends. A code going to the shop is issued with it, so the email's expiry, the
    reminders, the redemption check, the report and the shop all say the same."""
    return shop_rule_end(expires_at=expires_at, zone=_zone(store)) - dt.timedelta(microseconds=1)


def shop_terms(program: CouponProgram) -> str:
    """The terms a shop's price rule carries of `program` (kind, amount, minimum), as a
    key: a rule made under other terms is not reused."""
    return f"{program.kind}:{program.amount:.2f}:{program.minimum_order:.2f}"


def kept_price_rule(*, program: CouponProgram, ends_at: dt.datetime) -> str:
    """The shop's id of the price rule made for `program`'s current terms and codes
    ending at `ends_at`, "" when none is made yet."""
    kept = ShopPriceRule.objects.filter(
        program=program, terms=shop_terms(program), ends_at=ends_at
    ).values_list("shop_id", flat=True)
    return kept.first() or ""


def _zone(store: Store) -> ZoneInfo:
    try:
        return ZoneInfo(store.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def stores_with_pending_shop_codes() -> list[int]:
    """The ids of the stores that have codes waiting to be created in their shop."""
    pending = Coupon.objects.filter(shop_sync=ShopSync.PENDING)
    return sorted(set(pending.values_list("store_id", flat=True).distinct()))


def pending_shop_coupons(*, store: Store | None = None) -> QuerySet[Coupon]:
    """The codes (of `store`, else of every store) not created in their shop yet: the
    subquery that holds their emails back."""
    pending = Coupon.objects.filter(shop_sync=ShopSync.PENDING)
    return pending if store is None else pending.filter(store=store)
