from django.db import models

from aftersale.catalog.models import Product
from aftersale.stores.models import Store


class AssociationKind(models.TextChoices):
    BOUGHT_TOGETHER = "bought_together"


class ProductAssociation(models.Model):
    """A fitted "customers who bought `source` also bought `target`" score.

    Written in bulk by a fit; a send only reads it.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=AssociationKind.choices)
    source = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    support = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["store", "kind", "source", "-score"])]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_id} ({self.score:.3f})"


class ProductRank(models.Model):
    """A product's place in a fitted ranking, e.g. the store's bestsellers."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, default="bestseller")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["store", "kind", "rank"])]

    def __str__(self) -> str:
        return f"#{self.rank} {self.product_id}"
