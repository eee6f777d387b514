from decimal import Decimal

from django.db import models

from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.stores.models import Store


class DiscountKind(models.TextChoices):
    PERCENT = "percent"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"


class CouponProgram(models.Model):
    """The offer a flow hands out: one unique code per recipient is cut from it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="coupon_programs")
    # A flow's slug, or FLOW--STEP for a step's own program.
    slug = models.SlugField(max_length=120)
    kind = models.CharField(max_length=20, choices=DiscountKind.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    minimum_order = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    valid_days = models.PositiveIntegerField(default=14)
    code_prefix = models.CharField(max_length=20, default="THANKS")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "slug"], name="uniq_coupon_program_slug")
        ]

    def __str__(self) -> str:
        return self.slug


class ShopCodeSync(models.Model):
    """A store whose shop must know each coupon code before an email gives it (it keeps
    Shopify Admin access: integrations.platforms.coupon_sync): the codes it issues wait
    `pending` until created in the shop."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"codes of store {self.store_id} go to its shop first"


class ShopPriceRule(models.Model):
    """A price rule made in the store's shop (ShopCodeSync): the program's offer on the
    `terms` it had then (a change of terms makes a new rule), for its codes that expire
    on one day of the store's, so the shop ends them at `ends_at` (that day's end)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(
        CouponProgram, on_delete=models.CASCADE, related_name="shop_price_rules"
    )
    terms = models.CharField(max_length=80)
    ends_at = models.DateTimeField()
    shop_id = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "terms", "ends_at"], name="uniq_shop_price_rule"
            )
        ]

    def __str__(self) -> str:
        return f"price rule {self.shop_id} of {self.program_id} until {self.ends_at}"


class ShopSync(models.TextChoices):
    NOT_NEEDED = "", "the shop need not be told (no Shopify Admin access)"
    PENDING = "pending", "to be created in the shop before an email gives it"
    SYNCED = "synced", "created in the shop"


class Coupon(models.Model):
    """A code issued to one customer, and whether a later order redeemed it.

    A code generated in bulk ahead of time (for a store that imports the codes into its
    platform) has no customer until a flow hands it out: until then `issued_at` and
    `expires_at` both hold the moment it was generated and mean nothing else. An order
    by someone other than the recipient that uses the code redeems it for the program
    but is `redeemed_by_other`, with the order's customer in `redeemed_by`."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="coupons")
    program = models.ForeignKey(CouponProgram, on_delete=models.CASCADE, related_name="coupons")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    code = models.CharField(max_length=40)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="redeemed_coupons"
    )
    redeemed_by = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="coupons_used",
    )
    redeemed_by_other = models.BooleanField(default=False)
    # Whether the shop knows the code: an email giving a `pending` one is not due.
    shop_sync = models.CharField(
        max_length=10, choices=ShopSync.choices, blank=True, default=ShopSync.NOT_NEEDED
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "code"], name="uniq_coupon_code"),
        ]
        indexes = [
            models.Index(fields=["customer", "program"]),
            models.Index(fields=["program", "customer", "id"], name="coupon_program_pool"),
            # The few codes waiting for the shop: the send hold's subquery, the sync's read.
            models.Index(
                fields=["store", "program", "id"],
                condition=models.Q(shop_sync="pending"),
                name="coupon_pending_shop",
            ),
        ]

    def __str__(self) -> str:
        return self.code
