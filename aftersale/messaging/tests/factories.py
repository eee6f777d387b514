"""Small builders of real rows for the messaging tests."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from aftersale.catalog.models import Product
from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.customers.models import Customer
from aftersale.flows.models import Enrollment, Flow, FlowVersion
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.outbox.services import queue_message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import LineItem, Order
from aftersale.stores.models import Store

_serial = itertools.count(1)
_FLOW_JSON = Path(__file__).resolve().parents[2] / "flows" / "library" / "post-purchase-upsell.json"


def make_product(store: Store, *, name: str, price: str = "10.00") -> Product:
    """A product with an image and a shop URL."""
    n = next(_serial)
    return Product.objects.create(
        store=store,
        external_id=f"p{n}",
        name=name,
        price=Decimal(price),
        stock=10,
        image_url=f"https://cdn.example.com/p{n}.jpg",
        url=f"https://shop.example.com/p/{n}",
    )


def make_customer(
    store: Store,
    *,
    now: dt.datetime,
    first_name: str = "Ada",
    email: str = "",
    accepts_marketing: bool = True,
    unsubscribed_at: dt.datetime | None = None,
) -> Customer:
    """A customer of `store`."""
    n = next(_serial)
    return Customer.objects.create(
        store=store,
        external_id=f"c{n}",
        email=email or f"customer{n}@example.org",
        first_name=first_name,
        accepts_marketing=accepts_marketing,
        unsubscribed_at=unsubscribed_at,
        created_at=now,
    )


def make_order(
    store: Store,
    customer: Customer,
    *,
    now: dt.datetime,
    lines: list[tuple[Product, int]],
    total: str | None = None,
) -> Order:
    """A paid order of `customer` with the given (product, quantity) lines."""
    order = Order.objects.create(
        store=store,
        customer=customer,
        external_id=f"#{1000 + next(_serial)}",
        status="paid",
        placed_at=now,
        total=Decimal("0"),
    )
    for product, quantity in lines:
        LineItem.objects.create(
            store=store,
            order=order,
            product=product,
            quantity=quantity,
            unit_price=product.price,
            total=product.price * quantity,
        )
    order.total = Decimal(total) if total else sum((p.price * q for p, q in lines), Decimal("0"))
    order.save(update_fields=["total"])
    return order


def make_coupon(
    store: Store,
    customer: Customer,
    *,
    now: dt.datetime,
    kind: str = "percent",
    amount: str = "15",
    minimum_order: str = "0",
    valid_days: int = 14,
) -> Coupon:
    """A unique coupon issued to `customer` from a program of the given terms."""
    program, _ = CouponProgram.objects.get_or_create(
        store=store,
        slug=f"program-{kind}-{amount}",
        defaults={
            "kind": kind,
            "amount": Decimal(amount),
            "minimum_order": Decimal(minimum_order),
            "valid_days": valid_days,
        },
    )
    return Coupon.objects.create(
        store=store,
        program=program,
        customer=customer,
        code=f"THANKS-{next(_serial):06d}",
        issued_at=now,
        expires_at=now + dt.timedelta(days=valid_days),
    )


def make_enrollment(
    store: Store, customer: Customer, *, now: dt.datetime, order: Order | None
) -> Enrollment:
    """`customer` enrolled in the default post-purchase flow, triggered by `order`."""
    flow, _ = Flow.objects.get_or_create(
        store=store,
        slug="post-purchase-upsell",
        defaults={"name": "Post-purchase upsell", "status": "live", "created_at": now},
    )
    version, _ = FlowVersion.objects.get_or_create(
        store=store,
        flow=flow,
        number=1,
        defaults={"definition": json.loads(_FLOW_JSON.read_text()), "created_at": now},
    )
    return Enrollment.objects.create(
        store=store,
        flow=flow,
        version=version,
        customer=customer,
        trigger_order=order,
        entered_at=now,
    )


def make_message(
    *,
    template: EmailTemplate,
    customer: Customer,
    now: dt.datetime,
    enrollment: Enrollment | None = None,
    order: Order | None = None,
    recommendations: list[dict[str, object]] | None = None,
    coupon: Coupon | None = None,
    send_after: dt.datetime | None = None,
) -> Message:
    """A queued message of `template` to `customer`, due at `send_after` (default now),
    queued as a flow step queues it (about the journey's trigger order and checkout)."""
    key = f"test-{next(_serial)}"
    queue_message(
        idempotency_key=key,
        customer=customer,
        template_slug=template.slug,
        now=now,
        send_after=send_after,
        flow_id=enrollment.flow_id if enrollment else None,
        enrollment_id=enrollment.pk if enrollment else None,
        order_id=order.pk if order else enrollment.trigger_order_id if enrollment else None,
        checkout_id=enrollment.trigger_checkout_id if enrollment else None,
        campaign=enrollment.flow.slug if enrollment else "",
        coupon=coupon,
        recommendations=recommendations,
    )
    return Message.objects.get(idempotency_key=key)


@dataclass
class Scenario:
    """A customer who bought milk and cereal, with two picks and a 15% coupon."""

    store: Store
    customer: Customer
    order: Order
    picks: list[Product]
    coupon: Coupon
    enrollment: Enrollment
    templates: dict[str, EmailTemplate]

    def message(self, slug: str, *, now: dt.datetime, **overrides: object) -> Message:
        """A queued message of template `slug` for the scenario's customer."""
        fields: dict[str, object] = {
            "enrollment": self.enrollment,
            "coupon": self.coupon,
            "recommendations": [
                {"product_id": self.picks[0].pk, "reason": "Goes with your Whole Milk"},
                {"product_id": self.picks[1].pk, "reason": "Customers also bought"},
            ],
        }
        if slug == "order-confirmation":
            fields = {"order": self.order}
        fields.update(overrides)
        return make_message(
            template=self.templates[slug],
            customer=self.customer,
            now=now,
            **fields,  # type: ignore[arg-type]
        )


def make_scenario(store: Store, *, now: dt.datetime, customer: Customer | None = None) -> Scenario:
    """The standard post-purchase situation every library template is rendered for."""
    milk = make_product(store, name="Whole Milk", price="3.49")
    cereal = make_product(store, name="Honey Oat Cereal", price="4.99")
    cookies = make_product(store, name="Chocolate Chip Cookies", price="5.00")
    granola = make_product(store, name="Maple Granola", price="7.20")
    customer = customer or make_customer(store, now=now, first_name="Ada")
    order = make_order(store, customer, now=now, lines=[(milk, 2), (cereal, 1)])
    return Scenario(
        store=store,
        customer=customer,
        order=order,
        picks=[cookies, granola],
        coupon=make_coupon(store, customer, now=now),
        enrollment=make_enrollment(store, customer, now=now, order=order),
        templates={t.slug: t for t in install_default_templates(store=store, now=now)},
    )
