"""Reading coupons."""

from dataclasses import dataclass
from decimal import Decimal

from aftersale.coupons.models import Coupon, DiscountKind


def latest_coupon(*, program_id: int, customer_id: int) -> Coupon | None:
    """The newest coupon `program_id` issued to `customer_id`, if any."""
    return (
        Coupon.objects.filter(program_id=program_id, customer_id=customer_id)
        .order_by("-issued_at", "-id")
        .first()
    )


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
