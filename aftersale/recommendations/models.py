from django.db import models
from django.db.models import Q

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.stores.models import Store


class AssociationKind(models.TextChoices):
    BOUGHT_TOGETHER = "bought_together"
    # Item-item cosine over whole, recency-weighted customer histories ("personal").
    SIMILAR_HISTORY = "similar_history"


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


class CustomerPick(models.Model):
    """A product a fit found for one customer ("discovery"): bought by the customers
    whose whole histories are most like theirs, and not by them; higher scores first.

    Written in bulk by a fit; a send only reads it.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["store", "customer", "-score"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.product_id} ({self.score:.3f})"


class ProductRank(models.Model):
    """A product's place in a fitted ranking: the store's bestsellers (`bestseller`), or
    its bestsellers within the product's category (`category_bestseller`)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, default="bestseller")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["store", "kind", "rank"])]

    def __str__(self) -> str:
        return f"#{self.rank} {self.product_id}"


class RepurchaseInterval(models.Model):
    """How long customers who bought a product more than once waited between purchases
    (the median gap), learned by a fit; replenishment picks and delays read it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    median_days = models.FloatField()
    repeat_customers = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product"], name="uniq_repurchase_interval")
        ]

    def __str__(self) -> str:
        return f"{self.product_id} every {self.median_days:.1f} days"


class RuleKind(models.TextChoices):
    COMPLEMENT = "complement"  # "goes with": shown by cross-sell
    UPGRADE = "upgrade"  # a higher tier: shown by upsell


class ComplementRule(models.Model):
    """A merchant's rule: a product or a whole category (the source) goes with, or is
    upgraded by, a product or the bestsellers of a category (the target)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=RuleKind.choices, default=RuleKind.COMPLEMENT)
    source_product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source_category = models.CharField(max_length=200, blank=True, default="")
    target_product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target_category = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(source_product__isnull=True) ^ Q(source_category=""),
                name="complement_rule_one_source",
            ),
            models.CheckConstraint(
                condition=Q(target_product__isnull=True) ^ Q(target_category=""),
                name="complement_rule_one_target",
            ),
        ]
        indexes = [models.Index(fields=["store", "kind"])]

    def __str__(self) -> str:
        source = self.source_product_id or self.source_category
        target = self.target_product_id or self.target_category
        return f"{self.kind}: {source} -> {target}"


class RecommendationFeedback(models.Model):
    """A customer's answer to "Was this helpful?" under one pick of one email; the
    latest answer counts."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("messaging.Message", on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "product"], name="uniq_feedback_per_pick")
        ]
        indexes = [models.Index(fields=["store", "product"])]

    def __str__(self) -> str:
        return f"{self.product_id}: {'helpful' if self.helpful else 'not helpful'}"


class FitRun(models.Model):
    """When the store's recommendations were last fitted; the worker claims a due fit by
    moving `fitted_at` forward with a conditional UPDATE, so only one worker runs it."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="+")
    fitted_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0)
    # When the worker last evaluated the store to choose its live strategies (weekly;
    # claimed the same way as the fit).
    evaluated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.store_id} fitted at {self.fitted_at}"


class EvaluationRun(models.Model):
    """One offline evaluation (`aftersale evaluate`): the report as its JSON output
    (rows, bootstrap intervals, chosen settings), kept so the dashboard can show it.

    `store` is set when the store's own order history was evaluated, and empty for an
    exported file or the Complete Journey (named by `dataset`)."""

    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    dataset = models.CharField(max_length=300)
    cut = models.DateField()
    validation_cut = models.DateField()
    quick = models.BooleanField(default=False)
    ran_at = models.DateTimeField()
    seconds = models.FloatField()
    report = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["store", "-ran_at"])]

    def __str__(self) -> str:
        return f"{self.dataset} at {self.ran_at:%Y-%m-%d %H:%M}"


class LiveStrategy(models.Model):
    """The strategy a store's emails use for one task (`cross_sell`: the thank-you,
    cross-sell, offer and win-back picks; `replenishment`: the restock picks), as the
    evaluation of the store's own history chose it (recommendations/live.py), or as the
    merchant pinned it. `figures` holds the comparison behind the choice (metric, the
    winner's and the default's values, the ratio and its interval); `reason` says it in
    a sentence."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    task = models.CharField(max_length=20)
    strategy = models.CharField(max_length=40)
    default = models.CharField(max_length=40)
    reason = models.TextField()
    figures = models.JSONField(default=dict)
    decided_at = models.DateTimeField()
    # The evaluated choice, kept when the merchant pins another, so unpinning restores it.
    evaluated_strategy = models.CharField(max_length=40, blank=True, default="")
    evaluated_reason = models.TextField(blank=True, default="")
    pinned = models.BooleanField(default=False)
    run = models.ForeignKey(
        EvaluationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "task"], name="uniq_live_strategy_task")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.task}: {self.strategy}"
