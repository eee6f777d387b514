"""What the Connect page shows of each shop platform: the webhook URL to give it, the
topics to subscribe, the signing secret (only ever masked) and its latest deliveries;
for Shopify, the shop whose admin API is kept and the coupon codes waiting for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from aftersale.coupons.selectors import pending_shop_coupons
from aftersale.integrations.models import PlatformConnection, WebhookDelivery
from aftersale.integrations.platforms.deliveries import PLATFORMS
from aftersale.stores.credentials import masked
from aftersale.stores.models import Store

LATEST_DELIVERIES = 10
LABELS = {"shopify": "Shopify", "woocommerce": "WooCommerce"}


@dataclass(frozen=True, slots=True)
class PlatformCard:
    """One platform as a store is (or is not yet) connected to it."""

    platform: str
    label: str
    webhook_url: str
    topics: tuple[str, ...]
    # "••••" and the secret's last four characters; "" when no secret is kept yet.
    secret_masked: str
    connected_at: dt.datetime | None
    deliveries: tuple[WebhookDelivery, ...]
    # Shopify's admin API: the shop's domain once its access is kept ("" until then), and
    # the coupon codes waiting to be created there (their emails wait with them).
    shop_domain: str = ""
    codes_waiting: int = 0


def webhook_url(*, store: Store, platform: str) -> str:
    """The absolute URL (under settings.PUBLIC_URL) `platform` posts `store`'s webhooks to."""
    path = reverse("platform-webhook", kwargs={"platform": platform, "store_slug": store.slug})
    return settings.PUBLIC_URL.rstrip("/") + path


def subscribed_topics(*, platform: str) -> tuple[str, ...]:
    """The topics of `platform` Aftersale reads: the ones to subscribe to, in order."""
    handler = PLATFORMS[platform]
    return tuple(topic for topic, kind in handler.topics.items() if handler.handles(kind))


def latest_deliveries(
    *, store: Store, platform: str, limit: int = LATEST_DELIVERIES
) -> tuple[WebhookDelivery, ...]:
    """The latest `limit` deliveries of `platform` to `store`, newest first (without their
    raw bodies)."""
    rows = (
        WebhookDelivery.objects.filter(store=store, platform=platform)
        .defer("body")
        .order_by("-received_at", "-pk")[:limit]
    )
    return tuple(rows)


def platform_cards(*, store: Store) -> list[PlatformCard]:
    """One card per platform in PLATFORMS, in that order: URL, topics, masked secret,
    and the latest deliveries; Shopify's kept admin access and the coupon codes waiting
    for the shop. A few queries plus one per platform, whatever the history."""
    connections = {c.platform: c for c in PlatformConnection.objects.filter(store=store)}
    cards = []
    for platform in PLATFORMS:
        connection = connections.get(platform)
        cards.append(
            PlatformCard(
                platform=platform,
                label=LABELS.get(platform, platform.title()),
                webhook_url=webhook_url(store=store, platform=platform),
                topics=subscribed_topics(platform=platform),
                secret_masked=masked(connection.webhook_secret) if connection else "",
                connected_at=connection.created_at if connection else None,
                deliveries=latest_deliveries(store=store, platform=platform),
                **_admin_access(store, connection),
            )
        )
    return cards


def _admin_access(store: Store, connection: PlatformConnection | None) -> dict[str, Any]:
    if connection is None or not connection.admin_token:
        return {}
    waiting = pending_shop_coupons(store=store).count()
    return {"shop_domain": connection.shop_domain, "codes_waiting": waiting}


def store_delivery(*, store: Store, delivery_id: int) -> WebhookDelivery | None:
    """Delivery `delivery_id` if it is one of `store`'s; None otherwise."""
    return WebhookDelivery.objects.filter(store=store, pk=delivery_id).defer("body").first()
