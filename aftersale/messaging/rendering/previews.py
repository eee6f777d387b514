"""Previews: a template rendered for a real customer without sending or tracking
anything, filled with samples where the customer has no order, picks or coupon yet.
"Send test email" and the template editor's live preview both start here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Q

from aftersale.catalog.models import Product
from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind
from aftersale.customers.models import ERASED_ID_PREFIX, Customer
from aftersale.messaging.models import EmailTemplate, TemplateKind
from aftersale.messaging.outbox.selectors import store_templates, template_by_slug
from aftersale.messaging.rendering.context import EmailFacts, context_for
from aftersale.messaging.rendering.locale import parse_locale, recipient_locale
from aftersale.messaging.rendering.render import (
    RenderedEmail,
    TemplateError,
    localize,
    render_line,
    render_template,
)
from aftersale.messaging.rendering.template_library import library_template, library_templates
from aftersale.orders.models import LineItem, Order
from aftersale.recommendations.selectors import recommend
from aftersale.stores.models import Store

PREVIEW_CAMPAIGN = "preview"
# Kinds whose flow steps hand out a coupon, so their preview shows one.
COUPON_KINDS = frozenset({TemplateKind.OFFER, TemplateKind.OFFER_REMINDER, TemplateKind.WIN_BACK})
SAMPLE_CODE = "PREVIEW-15"
_SAMPLE_PERCENT = Decimal("15")
_SAMPLE_VALID = dt.timedelta(days=14)
_PICKS = 4


def preview_template(
    *, template: EmailTemplate, customer: Customer, now: dt.datetime, locale: str = ""
) -> RenderedEmail:
    """`template` rendered for `customer` as of `now`, in `locale` when given (else the
    customer's, else the store's), without tracking: nothing is written, no link is
    recorded and no open can be counted. It shows the customer's latest order, picks for
    it and, for offer kinds, their latest coupon; samples stand in for what they lack
    (store products, a 15% coupon). `customer` may be an unsaved sample. Raises
    TemplateError for a template that cannot be rendered."""
    store = template.store
    wanted = parse_locale(locale) or recipient_locale(
        customer_locale=customer.locale, store_locale=store.locale
    )
    variant, written_in = localize(template=template, wanted=wanted)
    facts = preview_facts(template=template, customer=customer, now=now)
    return render_template(
        template=template,
        context=context_for(facts=facts, now=now, locale=written_in),
        campaign=PREVIEW_CAMPAIGN,
        locale=variant,
    )


def preview_facts(*, template: EmailTemplate, customer: Customer, now: dt.datetime) -> EmailFacts:
    """What a preview of `template` for `customer` shows (see `preview_template`)."""
    order, lines = _latest_order(customer, now=now) or _sample_order(customer, now=now)
    basket = [line.product_id for line in lines]
    wants_coupon = template.kind in COUPON_KINDS
    return EmailFacts(
        store=template.store,
        customer=customer,
        to_email=customer.email,
        kind=template.kind,
        order=order,
        lines=lines,
        picks=_picks(customer, basket=basket, now=now),
        coupon=_coupon(customer, now=now) if wants_coupon else None,
    )


def _latest_order(customer: Customer, *, now: dt.datetime) -> tuple[Order, list[LineItem]] | None:
    if customer.pk is None:  # an unsaved sample customer has no orders
        return None
    order = (
        Order.objects.filter(customer=customer, placed_at__lte=now).order_by("-placed_at").first()
    )
    if order is None:
        return None
    return order, list(order.line_items.select_related("product").order_by("id"))


def _sample_order(customer: Customer, *, now: dt.datetime) -> tuple[Order | None, list[LineItem]]:
    """An unsaved order of two of the store's products, or none when it has none."""
    products = list(_sample_products(customer, count=2))
    if not products:
        return None, []
    order = Order(
        store=customer.store,
        customer=customer,
        external_id="PREVIEW",
        currency=customer.store.currency,
        total=sum((p.price for p in products), Decimal("0")),
        placed_at=now,
        expected_delivery_on=(now + dt.timedelta(days=3)).date(),
    )
    lines = [
        LineItem(store=customer.store, order=order, product=p, unit_price=p.price, total=p.price)
        for p in products
    ]
    return order, lines


def _picks(customer: Customer, *, basket: list[int], now: dt.datetime) -> list[dict[str, Any]]:
    picks = recommend(
        store=customer.store, customer_id=customer.pk, basket_product_ids=basket, now=now
    )
    if picks:
        return [dataclasses.asdict(pick) for pick in picks]
    return [
        {"product_id": p.pk, "reason": ""}
        for p in _sample_products(customer, count=_PICKS, excluded=basket)
    ]


def _sample_products(
    customer: Customer, *, count: int, excluded: list[int] | None = None
) -> list[Product]:
    products = Product.objects.filter(store=customer.store, price__gt=0).exclude(
        id__in=excluded or []
    )
    return list(products.order_by("id")[:count])


def _coupon(customer: Customer, *, now: dt.datetime) -> Coupon:
    """The customer's latest coupon still valid at `now`, else an unsaved sample."""
    latest = (
        None
        if customer.pk is None
        else (
            Coupon.objects.filter(customer=customer, expires_at__gt=now, redeemed_at__isnull=True)
            .select_related("program")
            .order_by("-issued_at")
            .first()
        )
    )
    if latest is not None:
        return latest
    program = CouponProgram(
        store=customer.store,
        slug="preview",
        kind=DiscountKind.PERCENT,
        amount=_SAMPLE_PERCENT,
        valid_days=_SAMPLE_VALID.days,
    )
    return Coupon(
        store=customer.store,
        program=program,
        customer=customer,
        code=SAMPLE_CODE,
        issued_at=now,
        expires_at=now + _SAMPLE_VALID,
    )


def previewable_template(*, store: Store, slug: str, now: dt.datetime) -> EmailTemplate | None:
    """The store's template `slug`, else the library's template of that slug as an
    unsaved row (so a library template can be previewed before it is installed), else
    None."""
    installed = template_by_slug(store=store, slug=slug)
    if installed is not None:
        return installed
    shipped = library_template(slug)
    if shipped is None:
        return None
    return EmailTemplate(store=store, updated_at=now, **shipped.fields())


# How many customers a search for a preview offers at most.
PREVIEW_CUSTOMERS = 20
# How many of the latest orders are read per buyer wanted: repeat buyers take several.
_ORDERS_PER_BUYER = 5


def preview_customers(
    *, store: Store, query: str = "", limit: int = PREVIEW_CUSTOMERS
) -> list[Customer]:
    """Up to `limit` of the store's customers (never the erased) a preview may be rendered
    for. Without a `query`: the latest buyers first (by their latest order), then the
    newest customers who have not bought. With one: those whose email, first or last name
    contains it (any case) or whose store id is it, newest first. Bounded reads: the
    store's latest orders through their (store, placed_at) index, not every customer."""
    customers = Customer.objects.filter(store=store).exclude(
        external_id__startswith=ERASED_ID_PREFIX
    )
    query = query.strip()
    if query:
        matching = customers.filter(
            Q(email__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(external_id=query)
        )
        return list(matching.order_by("-id")[:limit])
    recent = (
        Order.objects.filter(store=store)
        .order_by("-placed_at", "-id")
        .values_list("customer_id", flat=True)[: limit * _ORDERS_PER_BUYER]
    )
    ids = list(dict.fromkeys(recent))[:limit]
    by_id = customers.in_bulk(ids)
    found = [by_id[pk] for pk in ids if pk in by_id]
    if len(found) < limit:
        others = customers.exclude(pk__in=ids).order_by("-id")
        found += list(others[: limit - len(found)])
    return found


def latest_buyer(*, store: Store, now: dt.datetime) -> Customer | None:
    """The customer (not erased) of the store's latest order placed at or before `now`,
    the one a preview shows until the merchant picks another; else its newest customer,
    else None."""
    order = (
        Order.objects.filter(store=store, placed_at__lte=now)
        .exclude(customer__external_id__startswith=ERASED_ID_PREFIX)
        .select_related("customer")
        .order_by("-placed_at", "-id")
        .first()
    )
    if order is not None:
        return order.customer
    newest = Customer.objects.filter(store=store).exclude(external_id__startswith=ERASED_ID_PREFIX)
    return newest.order_by("-id").first()


def preview_customer(*, store: Store, customer_id: int | None, now: dt.datetime) -> Customer | None:
    """The store's customer `customer_id` when given (None when the store has no such
    customer), else the latest buyer (see `latest_buyer`)."""
    if customer_id is None:
        return latest_buyer(store=store, now=now)
    return (
        Customer.objects.filter(store=store, pk=customer_id)
        .exclude(external_id__startswith=ERASED_ID_PREFIX)
        .first()
    )


def editable_templates(*, store: Store, now: dt.datetime) -> list[EmailTemplate]:
    """Every template the store's editor may open: the store's own (saved rows), then
    each library template the store does not have yet as an unsaved row (its `pk` is
    None; saving it makes the store's copy), by kind and then name."""
    own = list(store_templates(store=store))
    slugs = {template.slug for template in own}
    shipped = [
        EmailTemplate(store=store, updated_at=now, **entry.fields())
        for entry in library_templates()
        if entry.slug not in slugs
    ]
    return sorted([*own, *shipped], key=lambda t: (t.kind, t.name.casefold(), t.slug))


def preview_subjects(
    *, templates: list[EmailTemplate], customer: Customer, now: dt.datetime
) -> dict[str, str]:
    """Each of `templates`' subject line as `customer` would read it (in their language's
    variant), by slug, with the facts a preview shows them (see `preview_template`);
    a subject that cannot render is left out. The customer's order and picks are read
    once for all of them."""
    if not templates:
        return {}
    base = preview_facts(template=templates[0], customer=customer, now=now)
    coupon = base.coupon or _coupon(customer, now=now)
    wanted = recipient_locale(customer_locale=customer.locale, store_locale=customer.store.locale)
    subjects = {}
    for template in templates:
        facts = dataclasses.replace(
            base, kind=template.kind, coupon=coupon if template.kind in COUPON_KINDS else None
        )
        variant, written_in = localize(template=template, wanted=wanted)
        context = context_for(facts=facts, now=now, locale=written_in)
        try:
            subjects[template.slug] = render_line(
                template=template, part="subject", context=context, locale=variant
            )
        except TemplateError:
            continue
    return subjects
