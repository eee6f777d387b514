from django.conf import settings
from django.db import models


class Store(models.Model):
    """One shop. Every domain row belongs to exactly one store."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    time_zone = models.CharField(max_length=64, default="UTC")
    website_url = models.URLField(default="https://shop.example.com")
    from_email = models.EmailField(default="hello@shop.example.com")
    reply_to = models.EmailField(blank=True, default="")
    physical_address = models.CharField(
        max_length=300,
        default="1 Market Street, Springfield, USA",
        help_text="Shown in every marketing email's footer (CAN-SPAM).",
    )
    brand_color = models.CharField(max_length=7, default="#1f6feb")
    logo_url = models.URLField(blank=True, default="")
    # Social profile links for the email footer, by network name ("instagram": url).
    social_links = models.JSONField(default=dict, blank=True)
    # The language and formats a customer without a locale of their own gets (Babel).
    locale = models.CharField(max_length=20, default="en_US")
    # Per-message Reply-To addresses are made on this domain, so replies can be matched
    # to the email they answer; empty means replies go to `reply_to` unmatched.
    reply_domain = models.CharField(max_length=200, blank=True, default="")
    api_key_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    OWNER = "owner"
    MARKETER = "marketer"


class StoreMember(models.Model):
    """A dashboard user who may see and work on one store. Superusers see every store
    without a membership; everyone else sees only the stores they are members of."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships"
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=10, choices=MemberRole.choices, default=MemberRole.OWNER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "store"], name="uniq_store_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.store}"
