from django.db import models

from aftersale.customers.models import Customer
from aftersale.messaging.models import Message
from aftersale.stores.models import Store


class EventKind(models.TextChoices):
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    PRODUCT_VIEWED = "product_viewed"


class Event(models.Model):
    """Something a customer did that a flow or a report may care about."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    url = models.URLField(max_length=1000, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["message", "kind"]),
            models.Index(fields=["customer", "kind", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.customer_id}"
