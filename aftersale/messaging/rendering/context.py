"""What a template sees: plain dicts of values built from the database, written for the
recipient's locale (amounts, dates and durations through Babel)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from django.conf import settings
from django.db.models import Prefetch

from aftersale.catalog.models import Product
from aftersale.catalog.selectors import variant_url
from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind
from aftersale.customers.models import Customer
from aftersale.lib.text import has_unprintable, single_line_text
from aftersale.messaging.models import Message, TemplateKind
from aftersale.messaging.rendering.countdown import countdown_url
from aftersale.messaging.rendering.links import unsubscribe_url
from aftersale.messaging.rendering.locale import Formatter, phrases, recipient_locale
from aftersale.orders.models import Checkout, CheckoutLine, LineItem, Order
from aftersale.recommendations.links import feedback_urls
from aftersale.stores.models import Store

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DEFAULT_COLOUR = "#1f6feb"
MAX_STARS = 5
# A coupon ends soon, and the library's reminders speak of a last chance, when it
# expires within this long of the send; further away they remind plainly.
ENDS_SOON = dt.timedelta(hours=48)

Context = dict[str, Any]


class Constant(str):
    """A text that is the same in every email of a store in one language: phrases, the
    store's name, address, colours and links, the text direction. It behaves as any
    string (whatever is made from it is a plain one); an email's skeleton (shapes.py)
    writes it as it is, so it is compiled with the skeleton instead of being filled in
    for each recipient."""

    __slots__ = ()


def shown(value: str) -> str:
    """`value` as an email can show it: as it is, unless it holds a control character
    other than a tab or line break, a lone surrogate or a noncharacter (stored before
    ingest cleaned them, or by anything else), which XML and so MJML refuse: then
    cleaned as ingest cleans a one-line value (lib.text.single_line_text), so one
    product's or customer's name never fails an email."""
    return single_line_text(value) if _unrenderable(value) else value


def _shown_lines(value: str) -> str:
    """A multi-line `value` (an address) cleaned as `shown`, line by line."""
    if not _unrenderable(value):
        return value
    return "\n".join(single_line_text(line) for line in value.splitlines())


# Tabs and line breaks, which XML allows: left as they are unless something else is not.
_XML_WHITESPACE = str.maketrans("", "", "\t\n\r")


def _unrenderable(value: str) -> bool:
    # isprintable() answers at C speed for nearly every value.
    return not value.isprintable() and has_unprintable(value.translate(_XML_WHITESPACE))


def is_marketing_kind(kind: str) -> bool:
    """Whether emails of template `kind` are marketing (need consent and an unsubscribe
    link) rather than transactional, like an order confirmation."""
    return kind != TemplateKind.ORDER_CONFIRMATION


def is_marketing(message: Message) -> bool:
    """Whether `message` is marketing (needs consent and an unsubscribe link) rather
    than a transactional email such as an order confirmation."""
    return is_marketing_kind(message.template.kind)


class OrderView(Protocol):
    """What an email reads of an order: an Order, or the `OrderRow` a batch reads."""

    @property
    def external_id(self) -> str: ...
    @property
    def placed_at(self) -> dt.datetime: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def payment_method(self) -> str: ...
    @property
    def shipping_address(self) -> str: ...
    @property
    def expected_delivery_on(self) -> dt.date | None: ...


class LineView(Protocol):
    """What an email reads of an order line: a LineItem, or the `LineRow` a batch reads."""

    @property
    def product_id(self) -> int: ...
    @property
    def product(self) -> Product: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def variant_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The columns of an order an email shows (see `OrderView`), read as a plain row."""

    external_id: str
    placed_at: dt.datetime
    total: Decimal
    payment_method: str
    shipping_address: str
    expected_delivery_on: dt.date | None


@dataclass(frozen=True, slots=True)
class LineRow:
    """An order line as an email shows it (see `LineView`), read as a plain row, with
    the batch's shared instance of its product."""

    product: Product
    quantity: int
    unit_price: Decimal
    total: Decimal
    variant_id: str = ""  # the variant bought, "" when the line names none

    @property
    def product_id(self) -> int:
        return self.product.pk


@dataclass(frozen=True)
class EmailFacts:
    """What one email is about: its recipient, the order behind it with its lines, the
    picked products (`{"product_id", "reason", ...}` dicts, best first), the coupon and
    the abandoned checkout behind the journey. `message_id` is None for an email that is
    not sent, such as a preview; `in_flow` says whether a flow sends it (its picks then
    ask for feedback). `products` are the picked products by id when already read (None:
    read them when the context is built). `shared` is what the emails of its batch write
    alike (see SharedParts): one for the batch, else one of its own."""

    store: Store
    customer: Customer
    to_email: str
    kind: str
    order: OrderView | None = None
    lines: Sequence[LineView] = field(default_factory=list)
    picks: list[dict[str, Any]] = field(default_factory=list)
    coupon: Coupon | None = None
    message_id: int | None = None
    checkout: Checkout | None = None
    products: dict[int, Product] | None = None
    in_flow: bool = False
    shared: SharedParts = field(default_factory=lambda: SharedParts())


def message_facts(message: Message) -> EmailFacts:
    """The facts of a queued or sent `message`, read from the database."""
    return facts_for_messages([message])[message.pk]


def facts_for_messages(messages: list[Message]) -> dict[int, EmailFacts]:
    """The facts of each of `messages` (loaded with selectors.for_rendering) by id,
    read for the whole batch in a few queries however many messages and products: the
    orders and abandoned checkouts they were queued about, the orders' lines, the
    products of those lines and of all picks (one instance per product, shared by every
    email showing it) and the checkouts' lines. Orders and lines are plain rows
    (`OrderRow`, `LineRow`): an email reads only a few of their columns."""
    orders = _orders({m.order_id for m in messages if m.order_id is not None})
    lines = _order_lines(set(orders))
    products = _products(
        {product_id for rows in lines.values() for product_id, *_ in rows}
        | {pick["product_id"] for m in messages for pick in _valid_picks(m.recommendations or [])}
    )
    shown_lines = {
        order: [LineRow(products[product_id], *rest) for product_id, *rest in rows]
        for order, rows in lines.items()
    }
    checkouts = _checkouts({m.checkout_id for m in messages if m.checkout_id is not None})
    picked = _by_store(products)
    shared = SharedParts()
    facts = {}
    for message in messages:
        order_id, checkout_id = message.order_id, message.checkout_id
        facts[message.pk] = EmailFacts(
            store=message.store,
            customer=message.customer,
            to_email=message.to_email,
            kind=message.template.kind,
            order=orders.get(order_id) if order_id else None,
            lines=shown_lines.get(order_id, []) if order_id else [],
            picks=list(message.recommendations or []),
            coupon=message.coupon,
            message_id=message.pk,
            checkout=checkouts.get(checkout_id) if checkout_id else None,
            products=picked.get(message.store_id, {}),
            in_flow=message.flow_id is not None,
            shared=shared,
        )
    return facts


def _orders(order_ids: set[int]) -> dict[int, OrderRow]:
    """The orders `order_ids` (those that still exist) by id."""
    if not order_ids:
        return {}
    rows = Order.objects.filter(id__in=order_ids).values_list("id", *OrderRow.__slots__)
    return {order_id: OrderRow(*columns) for order_id, *columns in rows}


def _order_lines(order_ids: set[int]) -> dict[int, list[tuple[Any, ...]]]:
    """The lines of the orders `order_ids` by order id, each a (product id, quantity,
    unit price, total, variant id) row, each order's in id order."""
    if not order_ids:
        return {}
    rows = (
        LineItem.objects.filter(order_id__in=order_ids)
        .order_by("id")
        .values_list("order_id", "product_id", "quantity", "unit_price", "total", "variant_id")
    )
    by_order: dict[int, list[tuple[Any, ...]]] = {}
    for order_id, *line in rows:
        by_order.setdefault(order_id, []).append(tuple(line))
    return by_order


def _checkouts(checkout_ids: set[int]) -> dict[int, Checkout]:
    """The checkouts `checkout_ids` with their lines and their products, by id."""
    if not checkout_ids:
        return {}
    lines = CheckoutLine.objects.select_related("product").order_by("id")
    return Checkout.objects.prefetch_related(Prefetch("lines", lines)).in_bulk(checkout_ids)


def _products(ids: set[int]) -> dict[int, Product]:
    """The products `ids` (those that still exist) by id."""
    return Product.objects.in_bulk(ids) if ids else {}


def _by_store(products: dict[int, Product]) -> dict[int, dict[int, Product]]:
    """`products` by store id, then by product id (a pick only ever shows a product of
    the message's own store)."""
    by_store: dict[int, dict[int, Product]] = {}
    for product in products.values():
        by_store.setdefault(product.store_id, {})[product.pk] = product
    return by_store


def _valid_picks(picks: list[Any]) -> list[dict[str, Any]]:
    return [p for p in picks if isinstance(p, dict) and isinstance(p.get("product_id"), int)]


def build_context(*, message: Message, now: dt.datetime, locale: Locale | None = None) -> Context:
    """Everything the message's template may use (see `context_for`), written for
    `locale`, by default the recipient's (the customer's locale, else the store's)."""
    return context_for(facts=message_facts(message), now=now, locale=locale)


def context_for(*, facts: EmailFacts, now: dt.datetime, locale: Locale | None = None) -> Context:
    """Everything a template may use: customer, store, the order with its products, the
    recommended products in their given order with reasons, ratings and discounted
    prices, the coupon with its countdown image, the unsubscribe URL, the locale (and its
    text direction) and the shared phrases in its language. A handful of queries
    regardless of how many products are involved."""
    store = facts.store
    written = facts.shared.writing(
        locale=locale
        or recipient_locale(customer_locale=facts.customer.locale, store_locale=store.locale),
        currency=store.currency,
        zone=_zone(facts.customer, store),
    )
    fmt, words = written.fmt, written.words
    return {
        "customer": _customer(facts, words=words),
        "store": facts.shared.store(store, words=words),
        "shop_url": Constant(store.website_url),
        "locale": dict(written.locale),
        "phrases": dict(words),
        "order": _order(facts.order, facts.lines, fmt=fmt),
        "bought": _bought(facts.lines, store=store, written=written),
        "recommendations": _recommendations(facts, written=written),
        "coupon": _coupon(facts.coupon, store=store, written=written, now=now)
        if facts.coupon
        else None,
        "unsubscribe_url": _unsubscribe_url(facts.message_id),
        "is_marketing": is_marketing_kind(facts.kind),
        "checkout": _checkout(facts.checkout, fmt=fmt),
    }


class SharedParts:
    """What many emails of one batch write alike, made once for the batch instead of once
    per email: for each locale, currency and time zone its Formatter, phrases, locale
    part and product cards (see `_Written`), and each store's part. Every email gets its
    own copy of each dict: a template may change what it is given."""

    def __init__(self) -> None:
        self._written: dict[tuple[Locale, str, dt.tzinfo], _Written] = {}
        self._stores: dict[tuple[int, str], Context] = {}

    def writing(self, *, locale: Locale, currency: str, zone: dt.tzinfo) -> _Written:
        """What is written alike in `locale`, amounts in `currency`, dates in `zone`."""
        key = (locale, currency, zone)
        written = self._written.get(key)
        if written is None:
            fmt = Formatter(locale=locale, currency=currency, zone=zone)
            written = self._written[key] = _Written(fmt)
        return written

    def store(self, store: Store, *, words: dict[str, str]) -> Context:
        """A copy of `store`'s part (see `_store`) in the language of `words`."""
        key = (store.pk, words["team_signature"])
        part = self._stores.get(key)
        if part is None:
            part = self._stores[key] = _store(store, words=words)
        return {**part, "social_links": [dict(link) for link in part["social_links"]]}


class _Written:
    """What every email written with `fmt` shows alike: the phrases of its language (as
    they are, and as Constants for the template's `phrases`), its locale part, and product
    cards (see `_product`), plain and as picks with a coupon's offer."""

    def __init__(self, fmt: Formatter) -> None:
        self.fmt = fmt
        self.phrases = phrases(fmt.language)
        self.words: dict[str, str] = {key: Constant(text) for key, text in self.phrases.items()}
        self.locale = _locale(fmt)
        self._cards: dict[tuple[int, Any], Context] = {}

    def card(self, product: Product, *, store: Store) -> Context:
        """A copy of `product`'s card, to add the email's own fields to."""
        return self._copy((product.pk, None), lambda: _product(product, store=store, fmt=self.fmt))

    def pick_card(self, product: Product, *, store: Store, coupon: Coupon | None) -> Context:
        """A copy of `product`'s card with its price after `coupon` (see `_offer_price`)."""
        program = coupon.program if coupon is not None else None
        offer = (program.kind, program.amount) if program is not None else ()
        return self._copy(
            (product.pk, offer),
            lambda: {
                **_product(product, store=store, fmt=self.fmt),
                **_offer_price(product.price, program=program, fmt=self.fmt),
            },
        )

    def _copy(self, key: tuple[int, Any], make: Callable[[], Context]) -> Context:
        if key[0] is None:  # an unsaved product has no id to remember its card by
            return make()
        card = self._cards.get(key)
        if card is None:
            card = self._cards[key] = make()
        return dict(card)


def _checkout(checkout: Checkout | None, *, fmt: Formatter) -> Context | None:
    """The abandoned checkout behind a checkout recovery email: its items, total and the
    link back to it (None for other emails and for previews)."""
    if checkout is None:
        return None
    items = [
        {
            "name": shown(line.product.name),
            "image_url": shown(line.product.image_url),
            "price": fmt.money(line.unit_price),
            "quantity": line.quantity,
            "url": shown(line.product.url),
        }
        for line in checkout.lines.all()
    ]
    # `lines` and `url` are the names the checkout-recovery template reads.
    return {
        "items": items,
        "lines": items,
        "total": fmt.money(checkout.total),
        "recovery_url": shown(checkout.recovery_url),
        "url": shown(checkout.recovery_url),
    }


def _unsubscribe_url(message_id: int | None) -> str:
    if message_id is None:  # a preview: there is nobody to unsubscribe
        return f"{settings.PUBLIC_URL.rstrip('/')}/u/preview/"
    return unsubscribe_url(message_id)


def _customer(facts: EmailFacts, *, words: dict[str, str]) -> Context:
    """The recipient: `first_name` (spaces tidied; for a customer the shop gave no name,
    the language's word for "there", so a template written as "Hi {{ first_name }}"
    still reads), `has_first_name` (whether there is a real one: the library writes
    each greeting twice, with the name and without), `last_name` and `email`."""
    customer = facts.customer
    first_name = " ".join(shown(customer.first_name).split())
    return {
        "first_name": first_name or words["there"],
        "has_first_name": bool(first_name),
        "last_name": shown(customer.last_name),
        "email": shown(facts.to_email),
    }


def _brand_colour(store: Store) -> str:
    return store.brand_color if _HEX_COLOUR.match(store.brand_color) else _DEFAULT_COLOUR


def _store(store: Store, *, words: dict[str, str]) -> Context:
    social = store.social_links if isinstance(store.social_links, dict) else {}
    name = shown(store.name)
    return {
        "name": Constant(name),
        "team_signature": Constant(team_signature(name, words=words)),
        "brand_color": Constant(_brand_colour(store)),
        "logo_url": Constant(shown(store.logo_url)),
        "address": Constant(_shown_lines(store.physical_address)),
        "website_url": Constant(shown(store.website_url)),
        "currency": Constant(store.currency),
        "social_links": [
            {
                "name": Constant(shown(str(network).replace("_", " ").title())),
                "url": Constant(shown(url)),
            }
            for network, url in social.items()
            if isinstance(url, str) and url.startswith(("http://", "https://"))
        ],
    }


def team_signature(store_name: str, *, words: dict[str, str]) -> str:
    """The sign-off of `store_name`'s team in the language of `words` ("The Little Gift
    Shop team", "Ihr Team von ..."), its own article left out where the store's name
    starts with one that the phrase would write again: "The {store} team" for "The
    Little Gift Shop" is "The Little Gift Shop team", not "The The ...". Which words
    are such articles is the language's `name_articles` phrase (none in German and
    Arabic, whose sign-offs put no article before the name)."""
    phrase = words["team_signature"]
    for article in words["name_articles"].split():
        if store_name.casefold().startswith(f"{article.casefold()} "):
            phrase = phrase.replace(f"{article} {{store}}", "{store}")
    return phrase.replace("{store}", store_name)


def _locale(fmt: Formatter) -> Context:
    rtl = fmt.direction == "rtl"
    return {
        "code": Constant(fmt.locale),
        "language": Constant(fmt.language),
        "direction": Constant(fmt.direction),
        # Where text starts and ends: a price column ends on the far side.
        "align": Constant("right" if rtl else "left"),
        "align_end": Constant("left" if rtl else "right"),
    }


def _product(product: Product, *, store: Store, fmt: Formatter) -> Context:
    rated = product.rating is not None and product.review_count > 0
    return {
        "product_id": product.pk,
        "name": shown(product.name),
        "image_url": shown(product.image_url),
        "url": shown(product.url or store.website_url),
        "category": shown(product.category),
        "price": fmt.money(product.price),
        "discounted_price": None,
        "discount_badge": None,
        "reason": "",
        "rating": fmt.number(product.rating) if rated else None,  # type: ignore[arg-type]
        "stars": _stars(product.rating) if rated else 0,  # type: ignore[arg-type]
        "review_count": product.review_count if rated else 0,
        "review_quote": shown(product.review_quote).strip(),
        "feedback": None,
    }


def _stars(rating: Decimal) -> int:
    """Whole stars to show for `rating` (0-5), rounded half up."""
    return max(0, min(MAX_STARS, int(rating + Decimal("0.5"))))


def _order(order: OrderView | None, lines: Sequence[LineView], *, fmt: Formatter) -> Context | None:
    if order is None:
        return None
    subtotal = sum((line.total for line in lines), Decimal("0"))
    discount = subtotal - order.total if subtotal > order.total else Decimal("0")
    return {
        "number": shown(order.external_id),
        "placed_on": fmt.date(order.placed_at),
        "lines": [_line(line, fmt=fmt) for line in lines],
        "subtotal": fmt.money(subtotal),
        "discount": fmt.money(discount) if discount else "",
        "total": fmt.money(order.total),
        "payment_method": shown(order.payment_method),
        "shipping_address": [
            shown(row).strip() for row in order.shipping_address.splitlines() if row.strip()
        ],
        "expected_delivery_on": (
            fmt.date(order.expected_delivery_on) if order.expected_delivery_on else ""
        ),
    }


def _line(line: LineView, *, fmt: Formatter) -> Context:
    product = line.product
    return {
        "name": shown(product.name),
        "quantity": line.quantity,
        "url": shown(variant_url(product=product, variant_external_id=line.variant_id)),
        "image_url": shown(product.image_url),
        "price": fmt.money(line.unit_price),
        "total": fmt.money(line.total),
    }


def _bought(lines: Sequence[LineView], *, store: Store, written: _Written) -> list[Context]:
    """A card per product bought, linking to the variant bought (the first line's)."""
    unique: dict[int, LineView] = {}
    for line in lines:
        unique.setdefault(line.product_id, line)
    cards = []
    for line in unique.values():
        card = written.card(line.product, store=store)
        link = variant_url(product=line.product, variant_external_id=line.variant_id)
        if link != line.product.url:
            card["url"] = shown(link)
        cards.append(card)
    return cards


def _recommendations(facts: EmailFacts, *, written: _Written) -> list[Context]:
    picks = _valid_picks(facts.picks)
    fmt, words = written.fmt, written.words
    store = facts.store
    products = facts.products
    if products is None:
        products = Product.objects.filter(store=store).in_bulk([p["product_id"] for p in picks])
    bought = _BoughtProducts(facts.lines)
    cards = []
    for pick in picks:
        product = products.get(pick["product_id"])
        if product is None:
            continue  # deleted since the pick was made: show the others
        card = written.pick_card(product, store=store, coupon=facts.coupon)
        card["reason"] = shown(str(pick.get("reason") or ""))
        card.update(_upgrade(pick, product, replaced=bought.improved_on(pick, product), fmt=fmt))
        card["feedback"] = _feedback(facts, product_id=product.pk, words=words)
        cards.append(card)
    return cards


def _feedback(facts: EmailFacts, *, product_id: int, words: dict[str, str]) -> Context | None:
    """The "Was this helpful? Yes · No" links under a pick of a flow's sent email (None
    for previews and one-off emails: nobody's answer to record). The words come along
    because the card components see only their arguments."""
    if facts.message_id is None or not facts.in_flow:
        return None
    urls = feedback_urls(facts.message_id, product_id)
    return {
        "question": words["was_this_helpful"],
        "yes": words["helpful_yes"],
        "no": words["helpful_no"],
        "helpful_url": urls.helpful,
        "not_helpful_url": urls.not_helpful,
    }


class _BoughtProducts:
    """The products of the email's order, to compare an upsell pick with."""

    def __init__(self, lines: Sequence[LineView]) -> None:
        self.by_id = {line.product_id: line.product for line in lines}
        # Uncategorised products have nothing to be compared with.
        self.by_category = {p.category: p for p in self.by_id.values() if p.category}

    def improved_on(self, pick: dict[str, Any], product: Product) -> Product | None:
        """The bought product `pick` upgrades: the one the recommender names in
        `upgrade_of`, else the bought product of the same category."""
        named = pick.get("upgrade_of")
        if isinstance(named, int) and named in self.by_id:
            return self.by_id[named]
        return self.by_category.get(product.category)


def _upgrade(
    pick: dict[str, Any], product: Product, *, replaced: Product | None, fmt: Formatter
) -> Context:
    """What an upsell pick costs more than the bought product it improves on: the
    recommender's own `price_difference` when the pick carries one, else the difference
    of the two prices."""
    difference = _decimal(pick.get("price_difference"))
    if difference is None and replaced is not None:
        difference = product.price - replaced.price
    if difference is None or difference <= 0:
        return {"price_difference": None, "upgrade_of": None}
    return {
        "price_difference": fmt.money(difference),
        "upgrade_of": shown(replaced.name) if replaced is not None else None,
    }


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _offer_price(price: Decimal, *, program: CouponProgram | None, fmt: Formatter) -> Context:
    """The price after a coupon of `program` and its badge ("-15%"), when it lowers it."""
    if program is None:
        return {}
    if program.kind == DiscountKind.PERCENT and 0 < program.amount < 100:
        return {
            "discounted_price": fmt.money(price * (100 - program.amount) / 100),
            "discount_badge": f"-{fmt.percent(program.amount)}",
        }
    if program.kind == DiscountKind.FIXED and 0 < program.amount < price:
        return {
            "discounted_price": fmt.money(price - program.amount),
            "discount_badge": f"-{fmt.money(program.amount)}",
        }
    return {}


def discount_text(coupon: Coupon, *, fmt: Formatter, words: dict[str, str] | None = None) -> str:
    """The offer in words of the formatter's language (`words`, its phrases, when the
    caller has them): "15% off", "5,00 € Rabatt", "Free shipping"."""
    program, words = coupon.program, words or phrases(fmt.language)
    if program.kind == DiscountKind.PERCENT:
        return words["discount_off"].format(amount=fmt.percent(program.amount))
    if program.kind == DiscountKind.FIXED:
        return words["discount_off"].format(amount=fmt.money(program.amount))
    return words["free_shipping"]


def _coupon(coupon: Coupon, *, store: Store, written: _Written, now: dt.datetime) -> Context:
    minimum = coupon.program.minimum_order
    fmt, words = written.fmt, written.phrases
    expires_on = fmt.date(coupon.expires_at)
    expires_in = fmt.time_until(coupon.expires_at, now=now)
    days_left = coupon.expires_at.astimezone(fmt.zone).date() - now.astimezone(fmt.zone).date()
    return {
        "code": shown(coupon.code),
        "discount_text": discount_text(coupon, fmt=fmt, words=words),
        "minimum_order": fmt.money(minimum) if minimum else "",
        "minimum_order_text": (
            words["minimum_order"].format(amount=fmt.money(minimum)) if minimum else ""
        ),
        "expires_on": expires_on,
        "expires_in": expires_in,
        "days_left": max(days_left.days, 0),
        # Urgent words ("Last chance") only when it is true: see ENDS_SOON.
        "ends_soon": coupon.expires_at - now <= ENDS_SOON,
        "countdown_url": countdown_url(expires_at=coupon.expires_at, color=_brand_colour(store)),
        # The coupon box's words, here so the box needs nothing but the coupon.
        "code_label": words["your_code"],
        "valid_until_text": f"{words['valid_until']} {expires_on}",
        "countdown_alt": f"{words['time_left']}: {expires_in}",
    }


def _zone(customer: Customer, store: Store) -> dt.tzinfo:
    """Dates are written in the customer's time zone, else the store's."""
    for name in (customer.time_zone, store.time_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.UTC
