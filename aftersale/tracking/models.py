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
    # A store-defined event posted through the API; its name is in data["name"].
    CUSTOM = "custom"


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
    # Events that count once per message (an open, the first click on a link, the
    # unsubscribe) carry a key unique within the message, so a repeat or a race between
    # two requests adds no row; events that may repeat leave it empty.
    once_key = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["message", "kind"]),
            models.Index(fields=["customer", "kind", "occurred_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "once_key"],
                condition=~models.Q(once_key=""),
                name="uniq_event_once_per_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.customer_id}"
