"""The flow definition language: what a FlowVersion's JSON may say, validated by pydantic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aftersale.coupons.models import DiscountKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    """Which orders start the flow for their customer."""

    event: Literal["first_purchase", "any_purchase"] = "first_purchase"
    min_order_total: Decimal = Decimal("0")


class CouponSpec(_Strict):
    """The offer the flow hands out: one unique code per recipient."""

    kind: DiscountKind
    amount: Decimal = Field(default=Decimal("0"), ge=0)
    minimum_order: Decimal = Field(default=Decimal("0"), ge=0)
    valid_days: int = Field(default=14, ge=1, le=365)
    code_prefix: str = Field(default="THANKS", pattern=r"^[A-Z0-9]{1,12}$")


class DelayStep(_Strict):
    """Wait a fixed time before the next step."""

    type: Literal["delay"]
    days: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


SkipRule = Literal["purchased_since_entry", "coupon_redeemed"]


class EmailStep(_Strict):
    """Send one email made from a template."""

    type: Literal["email"]
    template: str = Field(min_length=1)
    recommendations: Literal["none", "frequently_bought_together"] = "none"
    coupon: Literal["none", "issue", "remind"] = "none"
    skip_if: tuple[SkipRule, ...] = ()


class ExitStep(_Strict):
    """End the customer's journey here."""

    type: Literal["exit"]


Step = Annotated[DelayStep | EmailStep | ExitStep, Field(discriminator="type")]
ExitRule = Literal["purchased_again", "refunded", "unsubscribed"]


class FlowDefinition(_Strict):
    """A whole flow: trigger, steps in order, exit rules and the optional coupon offer."""

    name: str = Field(min_length=1)
    trigger: Trigger = Trigger()
    steps: tuple[Step, ...] = Field(min_length=1)
    exit_when: tuple[ExitRule, ...] = ("purchased_again", "refunded", "unsubscribed")
    coupon: CouponSpec | None = None

    def email_steps(self) -> list[tuple[int, EmailStep]]:
        """The email steps with their index in `steps`."""
        return [(i, s) for i, s in enumerate(self.steps) if isinstance(s, EmailStep)]


class InvalidFlowDefinition(ValueError):
    """A flow definition that does not validate; the message names every bad field."""


def parse_definition(data: object) -> FlowDefinition:
    """Validate `data` as a flow definition, or raise InvalidFlowDefinition naming the
    bad fields (e.g. `steps.1.template: Field required`)."""
    try:
        definition = FlowDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidFlowDefinition(f"invalid flow definition: {problems}") from exc
    if any(s.coupon != "none" for _, s in definition.email_steps()) and not definition.coupon:
        raise InvalidFlowDefinition(
            "invalid flow definition: steps use a coupon but the flow defines no `coupon`"
        )
    return definition
