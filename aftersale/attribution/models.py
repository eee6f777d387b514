"""Which email earned an order: the one credited in every flow, step and message report."""

from django.db import models

from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.stores.models import Store


class AttributedVia(models.TextChoices):
    COUPON = "coupon"  # the order used a code the email carried, whatever the window
    CLICK = "click"  # the last email clicked within the store's click window
    OPEN = "open"  # else the last email read (a person's open) within the open window


class Attribution(models.Model):
    """The email credited with one order. An order no email earned has no row. The
    email's flow, step and journey are copied from it, so reports group and filter
    without reading the messages."""

    order = models.OneToOneField(
        Order, primary_key=True, on_delete=models.CASCADE, related_name="attribution"
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    # Named by string: flows sit above attribution, which never follows these.
    flow = models.ForeignKey(
        "flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    enrollment = models.ForeignKey(
        "flows.Enrollment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step_index = models.PositiveIntegerField(null=True, blank=True)
    via = models.CharField(max_length=10, choices=AttributedVia.choices)
    # When the customer clicked or read the email (for a coupon: when it was queued).
    touched_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["flow", "step_index"], name="attribution_flow_step")]

    def __str__(self) -> str:
        return f"order {self.order_id} via {self.via} of message {self.message_id}"
