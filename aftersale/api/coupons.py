"""The store's coupon programs: list with what their codes did, read one, create or
change its terms (the same validation as the dashboard's and the flow builder's), add
codes in bulk, and list its codes a page at a time."""

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from ninja import Query, Schema, Status
from ninja.errors import ValidationError
from pydantic import Field

from aftersale.api.auth import request_store
from aftersale.api.errors import found, without_nul
from aftersale.api.read_schemas import READ_ERRORS, Page
from aftersale.api.routes import router
from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind
from aftersale.coupons.selectors import (
    ProgramSummary,
    program_by_slug,
    program_codes,
    program_summaries,
)
from aftersale.coupons.services import (
    MAX_BULK,
    InvalidCount,
    InvalidProgram,
    generate_codes,
    save_program,
)
from aftersale.lib import clock

TAGS = ["coupons"]
_SLUG = ["path", "slug"]


class CouponProgramIn(Schema):
    """The terms to set; those left out stay as stored (`kind` is needed to create)."""

    kind: DiscountKind | None = None
    amount: Decimal | None = Field(
        None, description="percent (more than 0, at most 100) or amount off; 2 decimals"
    )
    minimum_order: Decimal | None = Field(None, description="in the store's currency; 0: none")
    valid_days: int | None = Field(None, description="1 to 365 days from the send")
    code_prefix: str | None = Field(None, max_length=50, description="1 to 12 of A-Z, 0-9")


class CouponProgramOut(Schema):
    slug: str
    kind: DiscountKind
    amount: Decimal
    minimum_order: Decimal
    valid_days: int
    code_prefix: str
    terms: str = Field(description="the offer in words")
    issued: int = Field(description="codes handed to a customer")
    redeemed: int = Field(description="of those, used in a qualifying order (by anyone)")
    redemption_rate: float | None = Field(description="redeemed / issued; null: none issued")
    flagged: int = Field(description="redeemed by someone other than the recipient")
    unassigned: int = Field(description="codes generated in bulk not yet handed out")


class CodesIn(Schema):
    count: int = Field(ge=1, le=MAX_BULK, description=f"1 to {MAX_BULK:,} new codes")


class CodesAddedOut(Schema):
    added: int
    unassigned: int = Field(description="codes of the program not yet handed out, now")


class CouponOut(Schema):
    code: str
    customer_id: str | None = Field(description="the recipient (the store's id); null: nobody yet")
    issued_at: dt.datetime | None
    expires_at: dt.datetime | None
    redeemed_at: dt.datetime | None
    order_id: str | None = Field(description="the store's id of the order that redeemed it")
    redeemed_by_other: bool = Field(description="the order was someone else's")


class CouponPage(Schema):
    count: int
    items: list[CouponOut]


def _summary_out(summary: ProgramSummary) -> dict[str, object]:
    program = summary.program
    return {
        "slug": program.slug,
        "kind": program.kind,
        "amount": program.amount,
        "minimum_order": program.minimum_order,
        "valid_days": program.valid_days,
        "code_prefix": program.code_prefix,
        "terms": summary.terms,
        "issued": summary.issued,
        "redeemed": summary.redeemed,
        "redemption_rate": summary.redemption_rate,
        "flagged": summary.flagged,
        "unassigned": summary.unassigned,
    }


def _program(request: HttpRequest, slug: str) -> CouponProgram:
    program = program_by_slug(store=request_store(request), slug=without_nul(slug, loc=_SLUG))
    return found(program, loc=_SLUG, what="such coupon program")


def _out(program: CouponProgram) -> dict[str, object]:
    return _summary_out(program_summaries(store=program.store, slug=program.slug)[0])


def _coupon_out(coupon: Coupon) -> dict[str, object]:
    given = coupon.customer is not None
    return {
        "code": coupon.code,
        "customer_id": coupon.customer.external_id if coupon.customer is not None else None,
        "issued_at": coupon.issued_at if given else None,
        "expires_at": coupon.expires_at if given else None,
        "redeemed_at": coupon.redeemed_at,
        "order_id": coupon.redeemed_order.external_id if coupon.redeemed_order else None,
        "redeemed_by_other": coupon.redeemed_by_other,
    }


@router.get("/coupon-programs", response={200: list[CouponProgramOut], **READ_ERRORS}, tags=TAGS)
def list_programs(request: HttpRequest) -> list[dict[str, object]]:
    """The store's coupon programs by slug: terms (also in words), codes issued,
    redeemed, the redemption rate, flagged uses and codes not yet handed out."""
    return [_summary_out(s) for s in program_summaries(store=request_store(request))]


@router.get("/coupon-programs/{slug}", response={200: CouponProgramOut, **READ_ERRORS}, tags=TAGS)
def get_program(request: HttpRequest, slug: str) -> dict[str, object]:
    """One coupon program with its terms and counts."""
    return _out(_program(request, slug))


@router.put(
    "/coupon-programs/{slug}",
    response={200: CouponProgramOut, 201: CouponProgramOut, **READ_ERRORS},
    tags=TAGS,
)
def put_program(
    request: HttpRequest, slug: str, terms: CouponProgramIn
) -> Status[dict[str, object]]:
    """Create the program (201) or change the terms given (200; the others stay). Bad
    terms answer 422 naming each field (a percent more than 0 and at most 100, amounts
    of 0 or more with two decimals, valid_days 1 to 365, a prefix of 1 to 12 A-Z/0-9);
    nothing is stored then."""
    store = request_store(request)
    existed = program_by_slug(store=store, slug=without_nul(slug, loc=_SLUG)) is not None
    given = terms.model_dump(exclude_none=True)
    try:
        program = save_program(store=store, slug=slug, **given)
    except InvalidProgram as refused:
        raise ValidationError(
            [
                {
                    "type": "invalid_term",
                    "loc": _SLUG if field == "slug" else ["body", field],
                    "msg": msg,
                }
                for field, msg in refused.errors.items()
            ]
        ) from refused
    return Status(200 if existed else 201, _out(program))


@router.post(
    "/coupon-programs/{slug}/codes", response={201: CodesAddedOut, **READ_ERRORS}, tags=TAGS
)
def post_codes(request: HttpRequest, slug: str, wanted: CodesIn) -> Status[dict[str, int]]:
    """Add `count` new unique codes tied to nobody yet: the program's emails hand them out
    first, oldest first (for stores that import the codes into their platform: export
    them with GET .../codes or `aftersale coupons export`)."""
    program = _program(request, slug)
    try:
        added = generate_codes(program=program, count=wanted.count, now=clock.now())
    except InvalidCount as error:
        raise ValidationError(
            [{"type": "invalid_count", "loc": ["body", "count"], "msg": str(error)}]
        ) from error
    summary = program_summaries(store=program.store, slug=program.slug)[0]
    return Status(201, {"added": added, "unassigned": summary.unassigned})


@router.get("/coupon-programs/{slug}/codes", response={200: CouponPage, **READ_ERRORS}, tags=TAGS)
def list_codes(request: HttpRequest, slug: str, page: Query[Page]) -> dict[str, object]:
    """The program's codes, the latest first, a page at a time: recipient, issue,
    expiry, the order that redeemed it and whether it was someone else's."""
    codes = program_codes(program=_program(request, slug))
    rows = codes[page.offset : page.offset + page.limit]
    return {"count": codes.count(), "items": [_coupon_out(c) for c in rows]}
