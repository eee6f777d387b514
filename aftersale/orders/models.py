from decimal import Decimal

from django.db import models

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.stores.models import Store


class OrderStatus(models.TextChoices):
    PLACED = "placed"
    PAID = "paid"
    FULFILLED = "fulfilled"
    DELIVERED = "delivered"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


# An order in one of these states was not a purchase: it earns no revenue, counts for no
# repeat purchase and says nothing about what goes together.
NOT_PURCHASES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


class Order(models.Model):
    """One order of one customer, keyed by the store's own order id."""

    # No index of their own: (store, external_id), (store, placed_at) and (customer,
    # placed_at) lead with them, and an import writes every index of every order.
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    external_id = models.CharField(max_length=100)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    discount_codes = models.JSONField(default=list, blank=True)
    # What has been refunded so far, in the order's currency: a partial refund leaves
    # the order a purchase, worth total - refunded_total (a full one sets refunded_at).
    refunded_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    # What the order confirmation shows: "Visa ending 4242", a multi-line address and
    # the carrier's promised date, as the store reports them.
    payment_method = models.CharField(max_length=100, blank=True, default="")
    shipping_address = models.TextField(blank=True, default="")
    expected_delivery_on = models.DateField(null=True, blank=True)
    placed_at = models.DateTimeField()
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="uniq_order_external_id")
        ]
        indexes = [
            models.Index(fields=["store", "placed_at"]),
            models.Index(fields=["customer", "placed_at"]),
        ]

    def __str__(self) -> str:
        return f"order {self.external_id}"


class LineItem(models.Model):
    """One product line of an order."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="line_items")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="line_items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="line_items")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    # The variant of the product bought (the platform's id) and its SKU; "" when the
    # source names none.
    variant_id = models.CharField(max_length=100, blank=True, default="")
    sku = models.CharField(max_length=100, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class Checkout(models.Model):
    """A checkout a customer started, keyed by the store's own checkout id. It is
    completed when the store says so or when the customer places an order after it;
    one left open is what checkout recovery flows write about."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="checkouts")
    external_id = models.CharField(max_length=100)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="checkouts")
    started_at = models.DateTimeField()
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    recovery_url = models.URLField(max_length=1000, blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="uniq_checkout_external_id"
            )
        ]
        indexes = [models.Index(fields=["store", "started_at"])]

    def __str__(self) -> str:
        return f"checkout {self.external_id}"


class CheckoutLine(models.Model):
    """One product line of a checkout."""

    checkout = models.ForeignKey(Checkout, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"
