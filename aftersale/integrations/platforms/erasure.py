"""Erasure of what the platforms' deliveries hold about a customer (called by
integrations.personal_data.erase_customer_data): the deliveries' bodies, and the answers
to their data requests (platforms.privacy writes them)."""

import re
from pathlib import Path

from django.conf import settings

from aftersale.integrations.models import PlatformResource, WebhookDelivery
from aftersale.stores.models import Store


def erase_customer_deliveries(*, store: Store, external_id: str) -> int:
    """Empty the raw body of every delivery about the customer the platform calls
    `external_id` (erasure: the body holds their address and name) and forget their
    versions; return how many deliveries were emptied. The rows stay, so a retry of one
    is still known and not applied again."""
    if not external_id:
        return 0
    remove_data_request_answers(store=store, external_id=external_id)
    PlatformResource.objects.filter(store=store, kind="customer", external_id=external_id).delete()
    return WebhookDelivery.objects.filter(store=store, customer_external_id=external_id).update(
        body=b"", customer_external_id=""
    )


def privacy_folder(*, store: Store, home: Path | None = None) -> Path:
    """Where the answers to `store`'s data requests are written (`home`, by default
    AFTERSALE_HOME, /privacy/<store slug>/)."""
    return (Path(settings.DATA_DIR) if home is None else home) / "privacy" / store.slug


def safe_name(text: str) -> str:
    """`text` usable in a file name (other characters replaced by "_")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "none"


def remove_data_request_answers(*, store: Store, external_id: str) -> None:
    """Delete the answers written to the data requests of the customer the platform
    calls `external_id`."""
    for path in privacy_folder(store=store).glob(f"customer-{safe_name(external_id)}-*.json"):
        path.unlink(missing_ok=True)
