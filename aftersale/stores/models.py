import datetime as dt

from django.conf import settings
from django.db import models


class EmailTransport(models.TextChoices):
    ENVIRONMENT = "environment", "From the environment (AFTERSALE_SMTP_* settings)"
    SMTP = "smtp", "The store's own SMTP relay"
    ESP = "esp", "An email service (django-anymail)"


class SmtpSecurity(models.TextChoices):
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS from the start (SMTPS)"
    NONE = "none", "None (a relay on this machine only)"


class Store(models.Model):
    """One shop. Every domain row belongs to exactly one store."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    time_zone = models.CharField(max_length=64, default="UTC")
    website_url = models.URLField(default="https://shop.example.com")
    from_email = models.EmailField(default="hello@shop.example.com")
    reply_to = models.EmailField(blank=True, default="")
    # The name emails come from; empty means the store's name.
    from_name = models.CharField(max_length=200, blank=True, default="")
    # Empty until the merchant gives one: marketing emails wait in the outbox until then.
    physical_address = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="Shown in every marketing email's footer (CAN-SPAM); required before "
        "any marketing email goes out.",
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
    # The guards a flow gets when its definition sets none of its own: no marketing
    # email between start and end (recipient's local time; both None: no quiet hours),
    # and none within `smart_sending_hours` of another (0: no smart sending).
    quiet_hours_start = models.TimeField(null=True, blank=True, default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(null=True, blank=True, default=dt.time(8, 0))
    smart_sending_hours = models.PositiveSmallIntegerField(default=16)
    # An order is credited to the last email its customer clicked within this many days
    # before it or, failing that, read (a person's open) within the other (Klaviyo's 5).
    attribution_click_days = models.PositiveSmallIntegerField(default=5)
    attribution_open_days = models.PositiveSmallIntegerField(default=5)
    # The product codes of order lines that are no product (postage, fees) in the
    # store's imported files, comma-separated; empty: the importer's defaults.
    non_product_codes = models.CharField(max_length=1000, blank=True, default="")
    # How the store's email goes out: the installation's transport (AFTERSALE_SMTP_*,
    # AFTERSALE_EMAIL_TRANSPORT), or its own SMTP relay or email service. Secrets are
    # Fernet tokens (stores.credentials), never the plain text.
    email_transport = models.CharField(
        max_length=12, choices=EmailTransport.choices, default=EmailTransport.ENVIRONMENT
    )
    smtp_host = models.CharField(max_length=255, blank=True, default="")
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=8, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS
    )
    smtp_username = models.CharField(max_length=255, blank=True, default="")
    smtp_password = models.TextField(blank=True, default="", editable=False)
    esp_name = models.CharField(max_length=40, blank=True, default="")
    esp_api_key = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name

    @property
    def sender_name(self) -> str:
        """The name the store's emails come from."""
        return self.from_name or self.name


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


class ApiKey(models.Model):
    """A key the JSON API accepts for one store. Only its SHA-256 is kept: the raw key is
    shown once, when it is created. A revoked key stays listed and is refused."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    # Kept to the minute: a request writes it only when the stored value is older.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # A name picks one key among those in use (`aftersale keys revoke NAME`); a
            # revoked key's name may be given again.
            models.UniqueConstraint(
                fields=["store", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="uniq_active_api_key_name",
            )
        ]

    def __str__(self) -> str:
        return self.name
