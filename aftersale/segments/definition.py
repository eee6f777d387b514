"""The segment definition language: which customers a flow filter or branch means.

A segment is JSON. A condition names its `type`; `all`, `any` and `not` combine them:

    {"all": [{"type": "repeat"}, {"not": {"type": "engaged", "days": 30}}]}

Evaluating a segment is the job of `aftersale.segments.selectors`, as one SQL query.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

_COMBINATORS = ("all", "any", "not")
_T = TypeVar("_T")


def _non_empty(items: tuple[_T, ...]) -> tuple[_T, ...]:
    # A check after the items validated: pydantic's own min_length on a tuple also
    # reports an "empty" tuple whenever one item is bad, which misleads.
    if not items:
        raise ValueError("should have at least 1 item")
    return items


NonEmpty = Annotated[tuple[_T, ...], AfterValidator(_non_empty)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    tag: ClassVar[str]


class FirstTime(_Strict):
    """Exactly one purchase so far."""

    tag: ClassVar[str] = "first_time"
    type: Literal["first_time"]


class Repeat(_Strict):
    """At least `min_orders` purchases so far."""

    tag: ClassVar[str] = "repeat"
    type: Literal["repeat"]
    min_orders: int = Field(default=2, ge=2)


class Dormant(_Strict):
    """Bought at least once, but not in the last `days` days."""

    tag: ClassVar[str] = "dormant"
    type: Literal["dormant"]
    days: int = Field(gt=0)


class ScoreRange(_Strict):
    """Bounds, both inclusive, on one RFM score (1 is the store's bottom fifth, 5 its top)."""

    min: int = Field(default=1, ge=1, le=5)
    max: int = Field(default=5, ge=1, le=5)

    @model_validator(mode="after")
    def _ordered(self) -> ScoreRange:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Rfm(_Strict):
    """Buyers whose recency, frequency and monetary scores lie in the given ranges.

    Each score ranks the store's buyers on one measure (last purchase, number of purchases,
    money spent): 1 + 5 x (buyers strictly worse) / (all buyers), so equal values share a
    score and each score holds about a fifth of the buyers.
    """

    tag: ClassVar[str] = "rfm"
    type: Literal["rfm"]
    recency: ScoreRange = ScoreRange()
    frequency: ScoreRange = ScoreRange()
    monetary: ScoreRange = ScoreRange()


class PurchasedCategory(_Strict):
    """Bought a product of `category` (within the last `days` days when given)."""

    tag: ClassVar[str] = "purchased_category"
    type: Literal["purchased_category"]
    category: str = Field(min_length=1)
    days: int | None = Field(default=None, gt=0)


class OrderValue(_Strict):
    """The average, total or last purchase value lies between `min` and `max` (inclusive)."""

    tag: ClassVar[str] = "order_value"
    type: Literal["order_value"]
    measure: Literal["average", "total", "last"] = "average"
    min: Decimal | None = Field(default=None, ge=0)
    max: Decimal | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> OrderValue:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Engaged(_Strict):
    """Opened or clicked an email (the `actions` given) in the last `days` days; an open
    the tracker flagged as a machine's (a privacy proxy fetching the pixel) does not count."""

    tag: ClassVar[str] = "engaged"
    type: Literal["engaged"]
    days: int = Field(gt=0)
    actions: NonEmpty[Literal["opened", "clicked"]] = ("opened", "clicked")


class HighSpender(_Strict):
    """Spent at least `min_total` in all, or is among the store's top `top_percent` % of
    buyers by money spent: fewer than that share of buyers spent more (exactly one of the
    two rules)."""

    tag: ClassVar[str] = "high_spender"
    type: Literal["high_spender"]
    min_total: Decimal | None = Field(default=None, gt=0)
    top_percent: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _one_rule(self) -> HighSpender:
        if (self.min_total is None) == (self.top_percent is None):
            raise ValueError("give exactly one of min_total and top_percent")
        return self


class Unsubscribed(_Strict):
    """Unsubscribed from marketing email."""

    tag: ClassVar[str] = "unsubscribed"
    type: Literal["unsubscribed"]


class AcceptsMarketing(_Strict):
    """Consented to marketing email and has not unsubscribed since."""

    tag: ClassVar[str] = "accepts_marketing"
    type: Literal["accepts_marketing"]


class All(_Strict):
    """Every one of the conditions holds."""

    tag: ClassVar[str] = "all"
    conditions: NonEmpty[Segment] = Field(alias="all")


class AnyOf(_Strict):
    """At least one of the conditions holds."""

    tag: ClassVar[str] = "any"
    conditions: NonEmpty[Segment] = Field(alias="any")


class Not(_Strict):
    """The condition does not hold."""

    tag: ClassVar[str] = "not"
    condition: Segment = Field(alias="not")


def _tag_of(value: Any) -> str | None:
    if isinstance(value, _Strict):
        return value.tag
    if not isinstance(value, dict):
        return None
    if "type" in value:
        return str(value["type"])
    # A combinator is the one key it is named by, so its tag is that key.
    return next((key for key in _COMBINATORS if key in value), None)


_TAGS = {
    model.tag: model
    for model in (
        FirstTime,
        Repeat,
        Dormant,
        Rfm,
        PurchasedCategory,
        OrderValue,
        Engaged,
        HighSpender,
        Unsubscribed,
        AcceptsMarketing,
        All,
        AnyOf,
        Not,
    )
}

Segment = Annotated[
    Annotated[FirstTime, Tag("first_time")]
    | Annotated[Repeat, Tag("repeat")]
    | Annotated[Dormant, Tag("dormant")]
    | Annotated[Rfm, Tag("rfm")]
    | Annotated[PurchasedCategory, Tag("purchased_category")]
    | Annotated[OrderValue, Tag("order_value")]
    | Annotated[Engaged, Tag("engaged")]
    | Annotated[HighSpender, Tag("high_spender")]
    | Annotated[Unsubscribed, Tag("unsubscribed")]
    | Annotated[AcceptsMarketing, Tag("accepts_marketing")]
    | Annotated[All, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")],
    Discriminator(
        _tag_of,
        custom_error_type="invalid_segment",
        custom_error_message=(
            "Expected a condition with a known `type` ("
            + ", ".join(t for t in _TAGS if t not in _COMBINATORS)
            + ") or one of `all`, `any`, `not`"
        ),
    ),
]

for _model in (All, AnyOf, Not):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[Segment] = TypeAdapter(Segment)


class InvalidSegment(ValueError):
    """A segment definition that does not validate; the message names every bad field."""


def parse_segment(data: object) -> Segment:
    """Validate `data` (decoded JSON) as a segment, or raise InvalidSegment naming each
    bad field by its path, e.g. `all.1.days: Input should be greater than 0`."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_path(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise InvalidSegment(f"invalid segment: {problems}") from exc


def segment_json(segment: Segment) -> dict[str, Any]:
    """The JSON form of `segment`, which `parse_segment` reads back to an equal segment."""
    return _ADAPTER.dump_python(segment, mode="json", by_alias=True, exclude_defaults=True)


def _path(loc: tuple[int | str, ...]) -> str:
    """The error location as the JSON path a merchant wrote, without pydantic's union tags.

    Pydantic puts the tag of every union member it descends into in the location
    (`all.all.1.dormant.days`); the JSON says `all.1.days`.
    """
    parts: list[str] = []
    expecting_tag = True
    for item in loc:
        if expecting_tag and isinstance(item, str) and item in _TAGS:
            expecting_tag = False
            continue
        parts.append(str(item))
        # After a combinator's key (and, for lists, the index) comes another condition.
        expecting_tag = item == "not" or isinstance(item, int)
    return ".".join(parts) or "(root)"
