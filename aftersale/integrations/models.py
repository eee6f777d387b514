from django.db import models

from aftersale.lib.runs import RunStatus
from aftersale.stores.models import Store

# The bad lines a run keeps (with their numbers and reasons); the total is counted apart.
BAD_LINES_KEPT = 1000


class ImportKind(models.TextChoices):
    ORDERS = "orders"
    PRODUCTS = "products"


class ImportRun(models.Model):
    """One uploaded CSV file imported in the background: queued by the upload, run by a
    worker (lib.runs), its progress and counts written as it goes."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    file_path = models.CharField(max_length=500)
    file_name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    columns = models.CharField(
        max_length=2000,
        blank=True,
        default="",
        help_text="the file's column names, field=Column,... (orders; empty: by its header)",
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    rows_read = models.PositiveIntegerField(default=0)
    rows_good = models.PositiveIntegerField(default=0)
    rows_bad = models.PositiveIntegerField(default=0)
    bad_lines = models.JSONField(
        default=list, blank=True, help_text="[{line, reason}], first 1,000"
    )
    bad_lines_total = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0, help_text="orders (or products) kept")
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["store", "-created_at"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} import {self.pk} ({self.status})"


class PlatformConnection(models.Model):
    """A store's link to its shop platform (Shopify): the secret that signs the webhooks
    the platform posts, kept encrypted (stores.credentials)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    webhook_secret = models.TextField(help_text="Fernet token (stores.credentials)")
    created_at = models.DateTimeField()
    # For reading the shop's catalog through its admin API (platforms.catalog_sync):
    # the shop's own domain and an access token (Fernet), both empty until given.
    shop_domain = models.CharField(max_length=255, blank=True, default="")
    admin_token = models.TextField(blank=True, default="", help_text="Fernet token")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform"], name="one_connection_per_platform"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform} connection of store {self.store_id}"


class WebhookDelivery(models.Model):
    """One verified webhook a platform posted: kept raw, answered at once, processed
    later by a worker (claimed as lib.runs does: queued → running → done | failed).
    A failed one is a dead letter (`aftersale deadletters`), `error` naming why."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    topic = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, help_text="platforms.base.DeliveryKind")
    # The platform's event id, else its webhook id, else the body's SHA-256: a retry of
    # the same delivery has the same key and is not stored twice.
    dedup_key = models.CharField(max_length=200)
    event_id = models.CharField(max_length=100, blank=True, default="")
    webhook_id = models.CharField(max_length=100, blank=True, default="")
    shop_domain = models.CharField(max_length=255, blank=True, default="")
    api_version = models.CharField(max_length=20, blank=True, default="")
    triggered_at = models.DateTimeField(null=True, blank=True)
    body = models.BinaryField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=200, blank=True, default="")
    # The platform's id of the customer the payload is about, so erasure finds it.
    customer_external_id = models.CharField(max_length=320, blank=True, default="")
    received_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform", "dedup_key"], name="one_delivery_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["status", "finished_at"]),
            models.Index(fields=["store", "customer_external_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} delivery {self.pk} ({self.status})"


class PlatformResource(models.Model):
    """The platform's `updated_at` of the last version of one resource (an order) that
    was applied: a delivery of an older version changes nothing."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    kind = models.CharField(max_length=20)
    external_id = models.CharField(max_length=100)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform", "kind", "external_id"], name="one_version_per_resource"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.kind} {self.external_id} at {self.updated_at}"


class PlatformRefund(models.Model):
    """One refund the platform told of (in a refund delivery or in an order's refunds),
    kept by its id: the order's refunded total is the sum of its refunds, each counted
    once whichever delivery told of it first, and a refund whose order has not arrived
    yet waits here for it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    refund_id = models.CharField(max_length=100)
    order_external_id = models.CharField(max_length=100)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="in the order's currency"
    )
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform", "refund_id"], name="one_row_per_refund"
            )
        ]
        indexes = [models.Index(fields=["store", "platform", "order_external_id"])]

    def __str__(self) -> str:
        return f"{self.platform} refund {self.refund_id} of order {self.order_external_id}"


class PlatformFulfillment(models.Model):
    """One fulfillment the platform told of, kept by its id: a fulfillment whose order
    has not arrived yet waits here for it, and is applied when the order comes."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    fulfillment_id = models.CharField(max_length=100)
    order_external_id = models.CharField(max_length=100)
    fulfilled_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "platform", "fulfillment_id"], name="one_row_per_fulfillment"
            )
        ]
        indexes = [models.Index(fields=["store", "platform", "order_external_id"])]

    def __str__(self) -> str:
        return (
            f"{self.platform} fulfillment {self.fulfillment_id} of order {self.order_external_id}"
        )
