from django.db import models

from aftersale.stores.models import Store

# The id of an erased customer begins with a control character, which the API and the
# CSV import refuse in ids: no id a store sends can name an erased row.
ERASED_ID_PREFIX = "\x1ferased:"


class Customer(models.Model):
    """A buyer of one store, keyed by the store's own customer id."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=100)
    email = models.EmailField()
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # Babel locale such as "de_DE" or "ar"; empty means the store's locale.
    locale = models.CharField(max_length=20, blank=True, default="")
    birthday = models.DateField(null=True, blank=True)
    accepts_marketing = models.BooleanField(default=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="uniq_customer_external_id"
            )
        ]
        indexes = [models.Index(fields=["store", "email"])]

    def __str__(self) -> str:
        return self.email

    @property
    def can_receive_marketing(self) -> bool:
        return self.accepts_marketing and self.unsubscribed_at is None
