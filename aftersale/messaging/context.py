"""What a template sees: plain dicts of pre-formatted values built from the database."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aftersale.catalog.models import Product
from aftersale.coupons.models import Coupon, DiscountKind
from aftersale.messaging.links import unsubscribe_url
from aftersale.messaging.models import Message, TemplateKind
from aftersale.orders.models import LineItem, Order
from aftersale.stores.models import Store

_CURRENCY_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DEFAULT_COLOUR = "#1f6feb"
_CENT = Decimal("0.01")

Context = dict[str, Any]


def format_money(amount: Decimal, *, currency: str) -> str:
    """`amount` as a customer reads it, e.g. "$5.00" or "SEK 5.00"."""
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    text = f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"
    return f"{symbol}{text}" if symbol else f"{currency.upper()} {text}"


def is_marketing(message: Message) -> bool:
    """Whether `message` is marketing (needs consent and an unsubscribe link) rather
    than a transactional email such as an order confirmation."""
    return message.template.kind != TemplateKind.ORDER_CONFIRMATION


def build_context(*, message: Message, now: dt.datetime) -> Context:
    """Everything the message's template may use: customer, store, the order that
    started the journey with its products, the recommended products in their given
    order with reasons, the coupon, and the unsubscribe URL. A handful of queries
    regardless of how many products are involved."""
    store = message.store
    coupon = message.coupon
    order = _subject_order(message)
    lines = _order_lines(order)
    tz = _zone(message)
    return {
        "customer": _customer(message),
        "store": _store(store),
        "shop_url": store.website_url,
        "order": _order(order, lines, currency=store.currency, tz=tz),
        "bought": _bought(lines, store=store),
        "recommendations": _recommendations(message, store=store, coupon=coupon),
        "coupon": _coupon(coupon, store=store, tz=tz, now=now) if coupon else None,
        "unsubscribe_url": unsubscribe_url(message.pk),
        "is_marketing": is_marketing(message),
    }


def _subject_order(message: Message) -> Order | None:
    if message.order_id is not None:
        return message.order
    if message.enrollment_id is not None:
        return message.enrollment.trigger_order  # type: ignore[union-attr]
    return None


def _order_lines(order: Order | None) -> list[LineItem]:
    if order is None:
        return []
    return list(order.line_items.select_related("product").order_by("id"))


def _customer(message: Message) -> Context:
    customer = message.customer
    # "Hi there" reads better than "Hi ," when the shop never told us a name.
    first_name = customer.first_name.strip() or "there"
    return {"first_name": first_name, "last_name": customer.last_name, "email": message.to_email}


def _store(store: Store) -> Context:
    colour = store.brand_color if _HEX_COLOUR.match(store.brand_color) else _DEFAULT_COLOUR
    return {
        "name": store.name,
        "brand_color": colour,
        "logo_url": store.logo_url,
        "address": store.physical_address,
        "website_url": store.website_url,
        "currency": store.currency,
    }


def _product(product: Product, *, store: Store) -> Context:
    return {
        "product_id": product.pk,
        "name": product.name,
        "image_url": product.image_url,
        "url": product.url or store.website_url,
        "category": product.category,
        "price": format_money(product.price, currency=store.currency),
        "discounted_price": None,
        "reason": "",
    }


def _order(
    order: Order | None, lines: list[LineItem], *, currency: str, tz: dt.tzinfo
) -> Context | None:
    if order is None:
        return None
    subtotal = sum((line.total for line in lines), Decimal("0"))
    discount = subtotal - order.total if subtotal > order.total else Decimal("0")
    return {
        "number": order.external_id,
        "placed_on": _long_date(order.placed_at.astimezone(tz)),
        "lines": [_line(line, currency=currency) for line in lines],
        "subtotal": format_money(subtotal, currency=currency),
        "discount": format_money(discount, currency=currency) if discount else "",
        "total": format_money(order.total, currency=currency),
    }


def _line(line: LineItem, *, currency: str) -> Context:
    product = line.product
    return {
        "name": product.name,
        "quantity": line.quantity,
        "url": product.url,
        "image_url": product.image_url,
        "price": format_money(line.unit_price, currency=currency),
        "total": format_money(line.total, currency=currency),
    }


def _bought(lines: list[LineItem], *, store: Store) -> list[Context]:
    unique = {line.product_id: line.product for line in lines}
    return [_product(product, store=store) for product in unique.values()]


def _recommendations(message: Message, *, store: Store, coupon: Coupon | None) -> list[Context]:
    picks = [
        pick
        for pick in message.recommendations or []
        if isinstance(pick, dict) and isinstance(pick.get("product_id"), int)
    ]
    products = Product.objects.filter(store=store).in_bulk([p["product_id"] for p in picks])
    cards = []
    for pick in picks:
        product = products.get(pick["product_id"])
        if product is None:
            continue  # deleted since the pick was made: show the others
        card = _product(product, store=store)
        card["reason"] = str(pick.get("reason") or "")
        card["discounted_price"] = _discounted(
            product.price, coupon=coupon, currency=store.currency
        )
        cards.append(card)
    return cards


def _discounted(price: Decimal, *, coupon: Coupon | None, currency: str) -> str | None:
    if coupon is None:
        return None
    program = coupon.program
    if program.kind == DiscountKind.PERCENT and 0 < program.amount < 100:
        return format_money(price * (100 - program.amount) / 100, currency=currency)
    if program.kind == DiscountKind.FIXED and 0 < program.amount < price:
        return format_money(price - program.amount, currency=currency)
    return None


def discount_text(coupon: Coupon, *, currency: str) -> str:
    """The offer in words: "15% off", "$5.00 off" or "Free shipping"."""
    program = coupon.program
    if program.kind == DiscountKind.PERCENT:
        return f"{format(program.amount.normalize(), 'f')}% off"
    if program.kind == DiscountKind.FIXED:
        return f"{format_money(program.amount, currency=currency)} off"
    return "Free shipping"


def _coupon(coupon: Coupon, *, store: Store, tz: dt.tzinfo, now: dt.datetime) -> Context:
    minimum = coupon.program.minimum_order
    expires_local = coupon.expires_at.astimezone(tz)
    days_left = (expires_local.date() - now.astimezone(tz).date()).days
    return {
        "code": coupon.code,
        "discount_text": discount_text(coupon, currency=store.currency),
        "minimum_order": format_money(minimum, currency=store.currency) if minimum else "",
        "minimum_order_text": (
            f"On orders over {format_money(minimum, currency=store.currency)}" if minimum else ""
        ),
        "expires_on": _long_date(expires_local),
        "expires_in": _relative_days(days_left),
        "days_left": max(days_left, 0),
    }


def _relative_days(days: int) -> str:
    if days <= 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"


def _long_date(moment: dt.datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def _zone(message: Message) -> dt.tzinfo:
    """Dates are written in the customer's time zone, else the store's."""
    for name in (message.customer.time_zone, message.store.time_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.UTC
