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
