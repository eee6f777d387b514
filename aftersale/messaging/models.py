from django.db import models

from aftersale.coupons.models import Coupon
from aftersale.customers.models import Customer
from aftersale.orders.models import Checkout, Order
from aftersale.stores.models import Store


class TemplateKind(models.TextChoices):
    ORDER_CONFIRMATION = "order_confirmation"
    THANK_YOU = "thank_you"
    CROSS_SELL = "cross_sell"
    UPSELL = "upsell"
    OFFER = "offer"
    OFFER_REMINDER = "offer_reminder"
    REVIEW_REQUEST = "review_request"
    REPLENISHMENT = "replenishment"
    WIN_BACK = "win_back"
    CHECKOUT_RECOVERY = "checkout_recovery"


class EmailTemplate(models.Model):
    """A merchant-editable email: Jinja2 (sandboxed) producing MJML, plus subject and
    preheader templates, in one language and optionally translated into others."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="templates")
    slug = models.SlugField()
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=TemplateKind.choices)
    # Jinja source, not the rendered line: a library template's conditional greeting runs
    # past any sensible column width, so no length limit (the limits of a render apply).
    subject = models.TextField()
    preheader = models.TextField(blank=True, default="")
    body_mjml = models.TextField()
    # The language of subject, preheader and body above (Babel locale, e.g. "en").
    locale = models.CharField(max_length=20, default="en")
    # The same email in other languages, by locale ("de", "ar", "pt_BR"): each a dict of
    # "subject", "preheader" and "body_mjml". A recipient gets their locale's variant,
    # else their language's, else the text above. One row, so one `updated_at` versions
    # every language and rendering needs no extra query.
    translations = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "slug"], name="uniq_template_slug")]

    def __str__(self) -> str:
        return self.slug


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    SKIPPED = "skipped"


class Engagement(models.IntegerChoices):
    """What a recipient did with an email, as bits of `Message.engagement`: each is set
    once, when tracking records the first such event (a machine's open is no read)."""

    READ = 1
    CLICKED = 2
    REPLIED = 4
    UNSUBSCRIBED = 8


class SkipReason(models.TextChoices):
    """Why an email was not sent (status skipped), from a fixed vocabulary the reports
    count; `QUIET_HOURS_MOVED` alone marks an email that was not skipped but moved to the
    end of the recipient's quiet hours (it stays queued and goes out then)."""

    SMART_SENDING = "smart_sending", "Smart sending: another email too recently"
    QUIET_HOURS_MOVED = "quiet_hours_moved", "Moved past quiet hours, sent later"
    SUPPRESSED = "suppressed", "Address suppressed (unsubscribed, bounced or complained)"
    NO_CONSENT = "no_consent", "No marketing consent"
    FILTER_NO_LONGER_MET = (
        "filter_no_longer_met",
        "Skip rule met (bought, used the coupon, no picks)",
    )
    MISSING_ADDRESS = "missing_address", "No email address"


class Message(models.Model):
    """One email to one customer. Written in the same transaction as the flow step that
    decided it (the outbox), so a crash between deciding and sending loses nothing."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="messages")
    # The flow and journey that queued the email, named by string: flows sit above
    # messaging, which never follows these (reports and tracking join through them).
    flow = models.ForeignKey(
        "flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    enrollment = models.ForeignKey(
        "flows.Enrollment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    step_index = models.PositiveIntegerField(null=True, blank=True)
    # What the email is about, recorded when it is queued: the order it confirms or that
    # started its journey, the abandoned checkout it recovers, and the utm_campaign of
    # its links (the flow's slug; empty for transactional email).
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checkout = models.ForeignKey(
        Checkout, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.CharField(max_length=50, blank=True, default="")
    idempotency_key = models.CharField(max_length=120, unique=True)
    to_email = models.EmailField()
    subject = models.CharField(max_length=300, blank=True, default="")
    recommendations = models.JSONField(default=list, blank=True)
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    error = models.TextField(blank=True, default="")
    # Why the email was skipped (or moved by quiet hours): `error` keeps the details.
    skip_reason = models.CharField(
        max_length=24, choices=SkipReason.choices, blank=True, default=""
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField()
    send_after = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Which claim owns the row: two workers may compute the same claimed_until.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    # Our Message-ID header: replies and ESP events without their own id point back by it.
    message_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    # The id an email service provider gave the message (anymail's message_id), which
    # its delivery, open, click, bounce and complaint webhooks refer to.
    esp_message_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    # The destinations of the sent email's tracked links, by link index: the click
    # redirect only ever goes to one of these, so it cannot be used as an open redirect.
    tracked_urls = models.JSONField(default=list, blank=True)
    # The Engagement bits of what the recipient did: reports count reads and clicks from
    # the messages' own index instead of probing the events of every message.
    engagement = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["status", "send_after"], name="message_outbox"),
            # The flow report counts a flow's messages by step, status, skip reason and
            # engagement from this index alone (it covers the query); it also serves
            # lookups by flow and step.
            models.Index(
                fields=["flow", "step_index", "status", "skip_reason", "engagement"],
                name="message_flow_report",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} to {self.to_email} ({self.status})"


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"


class Suppression(models.Model):
    """An address of a store that no flow may email again: it unsubscribed, bounced hard
    or complained. Keyed by the lower-cased address, whichever customer row carries it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "email"], name="uniq_suppression_address")
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
