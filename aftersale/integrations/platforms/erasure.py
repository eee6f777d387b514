"""Erasure of what the platforms' deliveries hold about a customer (called by
integrations.personal_data.erase_customer_data)."""

from aftersale.integrations.models import PlatformResource, WebhookDelivery
from aftersale.stores.models import Store


def erase_customer_deliveries(*, store: Store, external_id: str) -> int:
    """Empty the raw body of every delivery about the customer the platform calls
    `external_id` (erasure: the body holds their address and name) and forget their
    versions; return how many deliveries were emptied. The rows stay, so a retry of one
    is still known and not applied again."""
    if not external_id:
        return 0
    PlatformResource.objects.filter(store=store, kind="customer", external_id=external_id).delete()
    return WebhookDelivery.objects.filter(store=store, customer_external_id=external_id).update(
        body=b"", customer_external_id=""
    )
