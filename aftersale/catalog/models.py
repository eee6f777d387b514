from decimal import Decimal

from django.db import models

from aftersale.stores.models import Store


class Product(models.Model):
    """A product the store sells, as its platform describes it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    category = models.CharField(max_length=200, blank=True, default="")
    department = models.CharField(max_length=200, blank=True, default="")
    brand = models.CharField(max_length=200, blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    stock = models.IntegerField(null=True, blank=True, help_text="None means not tracked.")
    image_url = models.URLField(max_length=500, blank=True, default="")
    url = models.URLField(max_length=500, blank=True, default="")
    # Social proof shown on product cards where the store has reviews.
    rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    review_count = models.PositiveIntegerField(default=0)
    review_quote = models.CharField(max_length=300, blank=True, default="")
    # When the catalog last created or changed the product (None: before this was kept).
    updated_at = models.DateTimeField(null=True, blank=True)
    # Created from an order's line item (its name and price only) and not described by
    # the store's catalog yet: a products webhook, a products import or a catalog sync
    # clears it.
    awaiting_catalog = models.BooleanField(default=False)
    # Platform catalogs: the variants sold ({"id", "sku", "price", "stock", "title"},
    # price a decimal string) and the tags; orders and picks stay on the product.
    variants = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="uniq_product_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["store", "category"]),
            models.Index(fields=["store", "updated_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0


class ProductAlias(models.Model):
    """Another name the store's files and line items may give a product: a variant's SKU
    or a variant's platform id (catalog.aliases). An order export keys its lines by SKU
    where the webhooks name the platform's product id; an alias makes both one product.
    A SKU that several products' variants carry names none of them (`product` None)."""

    class Kind(models.TextChoices):
        SKU = "sku"
        VARIANT = "variant"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    alias = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "alias"], name="uniq_product_alias")
        ]

    def __str__(self) -> str:
        return f"{self.alias} -> {self.product_id}"
