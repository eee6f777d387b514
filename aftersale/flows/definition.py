"""The flow definition language: what a FlowVersion's JSON may say, validated by pydantic.

Steps form a flat list run top to bottom. Any step may carry an `id`; a split (or any
step's `next`) jumps forward to a step by id, which is how branches are written:

    {"type": "split", "condition": {"kind": "opened"}, "then": "thanks", "else": "nudge"}
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aftersale.coupons.models import DiscountKind
from aftersale.recommendations.strategies import Strategy
from aftersale.segments.definition import InvalidSegment, parse_segment


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


OrderEvent = Literal[
    "first_purchase",
    "any_purchase",
    "order_fulfilled",
    "order_delivered",
    "product_purchased",
    "category_purchased",
]
# Posted by the store through POST /api/v1/events.
PostedEvent = Literal["product_viewed", "custom"]
# Found by the worker's periodic pass: moments nobody reports, that pass by.
TimedEvent = Literal[
    "checkout_abandoned", "birthday", "first_order_anniversary", "customer_dormant"
]
TriggerEvent = OrderEvent | PostedEvent | TimedEvent
ORDER_EVENTS: tuple[str, ...] = get_args(OrderEvent)
POSTED_EVENTS: tuple[str, ...] = get_args(PostedEvent)
TIMED_EVENTS: tuple[str, ...] = get_args(TimedEvent)
DATE_EVENTS = ("birthday", "first_order_anniversary")
# Where the trigger's filters have something to look at.
_TOTAL_FILTERED = (*ORDER_EVENTS, "checkout_abandoned")
_PRODUCT_FILTERED = (*ORDER_EVENTS, "checkout_abandoned", "product_viewed")


class Reentry(_Strict):
    """May a customer go through the flow again: never, or once every `days` days."""

    mode: Literal["once", "every"] = "once"
    days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _days_for_every(self) -> Reentry:
        if self.mode == "every" and self.days < 1:
            raise ValueError("reentry mode `every` needs `days` of at least 1")
        return self


class Trigger(_Strict):
    """What starts the flow for a customer (an order, a posted event or a moment the
    periodic pass finds), which of those may, and how often a customer may come back."""

    event: TriggerEvent = "first_purchase"
    min_order_total: Decimal = Field(default=Decimal("0"), ge=0)
    categories: tuple[str, ...] = ()
    products: tuple[str, ...] = Field(default=(), description="the store's product ids")
    segment: dict[str, Any] | None = None
    reentry: Reentry = Reentry()
    name: str = Field(default="", max_length=100, description="the custom event's name")
    abandoned_hours: int = Field(
        default=4, ge=1, le=24 * 30, description="checkout_abandoned: hours without an order"
    )
    dormant_days: int = Field(
        default=90, ge=1, le=3650, description="customer_dormant: days since the last order"
    )
    local_hour: int = Field(
        default=9, ge=0, le=23, description="birthday, anniversary: hour in the customer's zone"
    )

    @model_validator(mode="before")
    @classmethod
    def _recurring_occasions_come_back(cls, data: Any) -> Any:
        # A birthday comes every year and a customer may lapse again after buying: unless
        # the flow says otherwise, each new occasion may start it again (each occasion
        # itself starts it at most once).
        recurring = (*DATE_EVENTS, "customer_dormant")
        if isinstance(data, dict) and data.get("event") in recurring and "reentry" not in data:
            return {**data, "reentry": {"mode": "every", "days": 1}}
        return data

    @model_validator(mode="after")
    def _event_needs_its_subject(self) -> Trigger:
        if self.event == "category_purchased" and not self.categories:
            raise ValueError("event `category_purchased` needs `categories`")
        if self.event == "product_purchased" and not self.products:
            raise ValueError("event `product_purchased` needs `products`")
        if (self.event == "custom") != bool(self.name):
            raise ValueError("`name` goes with event `custom`, which needs it")
        if self.min_order_total and self.event not in _TOTAL_FILTERED:
            raise ValueError(f"event `{self.event}` has no order total to filter on")
        if (self.categories or self.products) and self.event not in _PRODUCT_FILTERED:
            raise ValueError(f"event `{self.event}` has no products to filter on")
        return self


class CouponSpec(_Strict):
    """The offer the flow hands out: one unique code per recipient."""

    kind: DiscountKind
    amount: Decimal = Field(default=Decimal("0"), ge=0)
    minimum_order: Decimal = Field(default=Decimal("0"), ge=0)
    valid_days: int = Field(default=14, ge=1, le=365)
    code_prefix: str = Field(default="THANKS", pattern=r"^[A-Z0-9]{1,12}$")

    @model_validator(mode="after")
    def _terms_a_program_accepts(self) -> CouponSpec:
        # The coupon program's own rules (coupons.services.validate_terms), so that a
        # flow is refused with its field named instead of failing when it is saved.
        if self.kind == DiscountKind.PERCENT and not 0 < self.amount <= 100:
            raise ValueError("a percent off must be more than 0 and at most 100")
        for name in ("amount", "minimum_order"):
            value: Decimal = getattr(self, name)
            if value != value.quantize(Decimal("0.01")) or value >= 10**8:
                raise ValueError(f"{name} must have at most two decimals and be under 10**8")
        return self


class QuietHours(_Strict):
    """No marketing email between `start` and `end` in the recipient's time zone."""

    start: dt.time = dt.time(21, 0)
    end: dt.time = dt.time(8, 0)


# The guards a store's Settings give a default for (the others have one value for all).
STORE_DEFAULT_GUARDS = ("smart_sending_hours", "quiet_hours")


class Guards(_Strict):
    """Checks every marketing email of the flow passes at send time. A guard the flow's
    definition does not set takes the store's default (`with_defaults`)."""

    smart_sending_hours: int = Field(default=16, ge=0, le=24 * 14)
    smart_sending: Literal["skip", "delay"] = "skip"
    # An email with a coupon is delayed, not skipped, unless the merchant says "skip".
    smart_sending_coupons: Literal["delay", "skip"] = Field(
        default="delay",
        description="what smart sending does to an email that issues or reminds of a "
        "coupon: wait until the window has passed (default) or skip it",
    )
    quiet_hours: QuietHours | None = QuietHours()

    def with_defaults(self, *, smart_sending_hours: int, quiet_hours: QuietHours | None) -> Guards:
        """These guards, with the given defaults for the smart-sending window and the
        quiet hours wherever the definition did not set them (unset is not the same
        as set to the built-in value: pydantic's `model_fields_set` tells them apart)."""
        given = self.model_fields_set
        defaults: dict[str, Any] = {}
        if "smart_sending_hours" not in given:
            defaults["smart_sending_hours"] = smart_sending_hours
        if "quiet_hours" not in given:
            defaults["quiet_hours"] = quiet_hours
        return self.model_copy(update=defaults) if defaults else self


class _Step(_Strict):
    id: str = Field(default="", pattern=r"^[a-z0-9_-]*$")
    next: str = Field(default="", description="the id of the step to go on with")


MAX_DELAY_DAYS = 3650
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DelayStep(_Step):
    """Wait: a fixed time after the previous step (or after the order was delivered, or
    until `lead_days` before the customer is due to restock a product they bought: the
    fixed time applies when nothing is due), then optionally on until one of `weekdays`
    at `at` in the customer's time zone."""

    type: Literal["delay"]
    # Ten years at most in each unit: a wait beyond that is a typo, and a huge float would
    # overflow the datetime arithmetic of every scheduler tick.
    days: float = Field(default=0, ge=0, le=MAX_DELAY_DAYS)
    hours: float = Field(default=0, ge=0, le=MAX_DELAY_DAYS * 24)
    minutes: float = Field(default=0, ge=0, le=MAX_DELAY_DAYS * 24 * 60)
    relative_to: Literal["previous_step", "delivery", "replenishment_due"] = "previous_step"
    fallback_days_after_fulfilled: int | None = Field(default=None, ge=0, le=MAX_DELAY_DAYS)
    lead_days: float = Field(
        default=0, ge=0, le=MAX_DELAY_DAYS, description="replenishment_due: days before"
    )
    weekdays: tuple[Weekday, ...] = ()
    at: dt.time | None = None

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


SkipRule = Literal["purchased_since_entry", "coupon_redeemed", "no_recommendations"]
# "frequently_bought_together" is the old name of "cross_sell".
RecommendationStrategy = Literal["none", Strategy]


class EmailStep(_Step):
    """Send one email made from a template."""

    type: Literal["email"]
    template: str = Field(min_length=1)
    recommendations: RecommendationStrategy = "none"
    coupon: Literal["none", "issue", "remind"] = "none"
    offer: CouponSpec | None = Field(
        default=None,
        description="this step's own coupon program (`coupon: issue`, needs an `id`): its "
        "codes, terms and counts apart from the flow's `coupon`",
    )
    skip_if: tuple[SkipRule, ...] = ()
    transactional: bool = Field(default=False, description="bypasses the marketing guards")
    smart_sending: Literal["skip", "delay"] | None = Field(
        default=None,
        description="what smart sending does to this email; unset: the flow's guards "
        "(`smart_sending`, or `smart_sending_coupons` for an email with a coupon)",
    )


class MessageCondition(_Strict):
    kind: Literal["opened", "clicked"]
    step: str = Field(default="", description="an email step's id; empty: any of this flow")


class PurchasedCondition(_Strict):
    kind: Literal["purchased_since_entry", "used_coupon"]


class SegmentCondition(_Strict):
    kind: Literal["in_segment"]
    segment: dict[str, Any]


class OrderValueCondition(_Strict):
    kind: Literal["order_value"]
    min: Decimal | None = None
    max: Decimal | None = None


Condition = Annotated[
    MessageCondition | PurchasedCondition | SegmentCondition | OrderValueCondition,
    Field(discriminator="kind"),
]


class SplitStep(_Step):
    """Go on with `then` when the condition holds, else with `else` (ids; empty: the next
    step)."""

    type: Literal["split"]
    condition: Condition
    then: str = ""
    otherwise: str = Field(default="", alias="else")


class Variant(_Strict):
    weight: int = Field(gt=0)
    goto: str = ""


class ABSplitStep(_Step):
    """Send each customer down one variant at random, in proportion to the weights."""

    type: Literal["ab_split"]
    variants: tuple[Variant, ...] = Field(min_length=2)


class ExitStep(_Step):
    """End the customer's journey here."""

    type: Literal["exit"]


Step = Annotated[
    DelayStep | EmailStep | SplitStep | ABSplitStep | ExitStep, Field(discriminator="type")
]
ExitRule = Literal["purchased_again", "refunded", "unsubscribed", "checkout_completed"]


class FlowDefinition(_Strict):
    """A whole flow: trigger, steps in order, exit rules, guards and the coupon offer."""

    name: str = Field(min_length=1)
    trigger: Trigger = Trigger()
    # At most 63: each step has a bit in Enrollment.passed_steps.
    steps: tuple[Step, ...] = Field(min_length=1, max_length=63)
    exit_when: tuple[ExitRule, ...] = ("purchased_again", "refunded", "unsubscribed")
    guards: Guards = Guards()
    coupon: CouponSpec | None = None
    # The share of entering customers who receive nothing and are compared with the
    # recipients (flows.holdout; reports.experiments). Unset: the installation's default
    # (settings.FLOW_HOLDOUT_PERCENT, 10); a stored version always names its own.
    holdout_percent: int = Field(
        default_factory=lambda: int(settings.FLOW_HOLDOUT_PERCENT),
        validate_default=True,
        ge=0,
        le=50,
        description="percent of customers held out: they enter and wait, but get no email "
        "(default: the installation's AFTERSALE_HOLDOUT_PERCENT, 10)",
    )

    def email_steps(self) -> list[tuple[int, EmailStep]]:
        """The email steps with their index in `steps`."""
        return [(i, s) for i, s in enumerate(self.steps) if isinstance(s, EmailStep)]

    def index_of(self, step_id: str, *, after: int) -> int:
        """The index of step `step_id`, or the step after `after` for an empty id."""
        if not step_id:
            return after + 1
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    @model_validator(mode="after")
    def _jumps_go_forward_to_known_steps(self) -> FlowDefinition:
        ids = [s.id for s in self.steps if s.id]
        if len(ids) != len(set(ids)):
            raise ValueError("step ids must be unique")
        position = {s.id: i for i, s in enumerate(self.steps) if s.id}
        for index, step in enumerate(self.steps):
            for target in _targets(step):
                if target not in position:
                    raise ValueError(f"step {index} jumps to unknown step id {target!r}")
                if position[target] <= index:
                    # Only forward jumps: every journey then ends after at most len(steps).
                    raise ValueError(f"step {index} jumps back to {target!r}")
        return self


def _targets(step: DelayStep | EmailStep | SplitStep | ABSplitStep | ExitStep) -> list[str]:
    targets = [step.next]
    if isinstance(step, SplitStep):
        targets += [step.then, step.otherwise]
    if isinstance(step, ABSplitStep):
        targets += [v.goto for v in step.variants]
    return [t for t in targets if t]


# Where in a definition a value is: ("steps", 1, "template").
FieldPath = tuple[str | int, ...]


class InvalidFlowDefinition(ValueError):
    """A flow definition that does not validate; the message names every bad field, and
    `problems` holds each one's path and message for a form or an API to show."""

    def __init__(self, problems: list[tuple[FieldPath, str]]) -> None:
        self.problems = problems
        listed = "; ".join(f"{'.'.join(map(str, loc)) or '(root)'}: {msg}" for loc, msg in problems)
        super().__init__(f"invalid flow definition: {listed}")


def stored_definition(definition: FlowDefinition) -> dict[str, Any]:
    """`definition` as JSON to store: every field, except the guards with a store default
    that the definition did not set, so that they still follow the store's defaults when
    it is read back (Guards.with_defaults)."""
    data = definition.model_dump(mode="json", by_alias=True)
    for name in STORE_DEFAULT_GUARDS:
        if name not in definition.guards.model_fields_set:
            del data["guards"][name]
    return data


def parse_definition(data: object) -> FlowDefinition:
    """Validate `data` as a flow definition, or raise InvalidFlowDefinition naming the
    bad fields (e.g. `steps.1.email.template: Field required`)."""
    try:
        definition = FlowDefinition.model_validate(data)
    except ValidationError as exc:
        raise InvalidFlowDefinition([(err["loc"], err["msg"]) for err in exc.errors()]) from exc
    problems: list[tuple[FieldPath, str]] = []
    for i, step in definition.email_steps():
        if step.offer is not None and (step.coupon != "issue" or not step.id):
            problems.append(
                (("steps", i, "offer"), "a step's own `offer` needs an `id` and `coupon: issue`")
            )
    steps = [s for _, s in definition.email_steps()]
    own_offers = any(s.offer is not None for s in steps)
    needs_flow_coupon = any(
        (s.coupon == "remind" and not own_offers) or (s.coupon == "issue" and s.offer is None)
        for s in steps
    )
    if needs_flow_coupon and not definition.coupon:
        problems.append((("coupon",), "steps use a coupon but the flow defines no `coupon`"))
    if problems:
        raise InvalidFlowDefinition(problems)
    for where, segment in _segments(definition):
        try:
            parse_segment(segment)
        except InvalidSegment as exc:
            raise InvalidFlowDefinition([(where, str(exc))]) from exc
    return definition


def _segments(definition: FlowDefinition) -> list[tuple[FieldPath, dict[str, Any]]]:
    found: list[tuple[FieldPath, dict[str, Any] | None]] = [
        (("trigger", "segment"), definition.trigger.segment)
    ]
    found += [
        (("steps", i, "condition", "segment"), s.condition.segment)
        for i, s in enumerate(definition.steps)
        if isinstance(s, SplitStep) and isinstance(s.condition, SegmentCondition)
    ]
    return [(where, segment) for where, segment in found if segment is not None]
