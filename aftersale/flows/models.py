from django.db import models

from aftersale.customers.models import Customer
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Checkout, Order
from aftersale.stores.models import Store


class FlowStatus(models.TextChoices):
    DRAFT = "draft"
    LIVE = "live"
    PAUSED = "paused"


class Flow(models.Model):
    """A post-purchase automation. Its steps live in versions, so edits never touch
    enrollments already in flight."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="flows")
    slug = models.SlugField()
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=FlowStatus.choices, default=FlowStatus.DRAFT)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "slug"], name="uniq_flow_slug")]

    def __str__(self) -> str:
        return self.slug


class FlowVersion(models.Model):
    """An immutable definition of a flow's trigger, steps and exit rules."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="uniq_flow_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.flow.slug} v{self.number}"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


class Enrollment(models.Model):
    """One customer's journey through one flow version.

    `step_index` is the step the customer waits at; `due_at` is when the scheduler
    may run it. A worker owns the row while `claimed_until` is in the future.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="enrollments")
    trigger_order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger_checkout = models.ForeignKey(
        Checkout, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The occasion that started the journey when it was no order ("checkout:12",
    # "birthday:2024", "event:7"): each starts a flow at most once, which the unique
    # constraint enforces even for two workers' passes at the same moment.
    trigger_key = models.CharField(max_length=60, blank=True, default="")
    state = models.CharField(
        max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )
    step_index = models.PositiveIntegerField(default=0)
    passed_steps = models.BigIntegerField(
        default=0, help_text="bit i is set once the journey has gone past step i"
    )
    entered_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=40, blank=True, default="")
    # Every email of the journey was already due when it started (a late or back-dated
    # order): set at entry (timing.every_email_overdue), counted by the report.
    overdue_at_entry = models.BooleanField(default=False)
    claimed_by = models.CharField(max_length=40, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Decided at entry (flows.holdout): a holdout journey follows the flow's timing but
    # is sent no marketing email and issued no coupon.
    holdout = models.BooleanField(default=False)
    # The variant taken at each A/B split passed, as "STEP:VARIANT;" in the order taken
    # ("2:0;5:1;"), so reports group journeys by variant in SQL.
    ab_variants = models.CharField(max_length=400, blank=True, default="")
    # What the customer had bought before entering (flows.covariates), fixed at entry:
    # the holdout comparison's covariates, statistics in the store's currency.
    spend_90d = models.FloatField(default=0.0, db_default=0.0)
    orders_90d = models.PositiveIntegerField(default=0, db_default=0)
    trigger_value = models.FloatField(default=0.0, db_default=0.0)

    class Meta:
        indexes = [
            # In the claim's order (due time, then the first started), so PostgreSQL
            # reads due journeys off the index without sorting a bunch due at once.
            models.Index(fields=["state", "due_at", "id"], name="enrollment_due"),
            models.Index(fields=["flow", "customer"]),
            models.Index(fields=["customer", "state"]),
            # Covers the report's tally of a flow's journeys, so it reads no table row.
            models.Index(
                fields=[
                    "flow",
                    "state",
                    "step_index",
                    "exit_reason",
                    "passed_steps",
                    "overdue_at_entry",
                    "entered_at",
                ],
                name="enrollment_flow_report",
            ),
            # Covers the holdout comparison's reads (reports.experiments): grouped by
            # group, variants and covariates in index order, and each journey's customer
            # and entry for its orders.
            models.Index(
                fields=[
                    "flow",
                    "holdout",
                    "ab_variants",
                    "spend_90d",
                    "orders_90d",
                    "trigger_value",
                    "entered_at",
                    "customer",
                ],
                name="enrollment_experiment",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "customer", "trigger_key"],
                condition=~models.Q(trigger_key=""),
                name="uniq_enrollment_occasion",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.flow_id} at step {self.step_index}"


class BacktestRun(models.Model):
    """One backtest of a flow over the store's last `days` days of orders, run in the
    background (lib.runs); `result` is what it would have sent (flows.backtest_runs)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="backtests")
    days = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["flow", "-created_at"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.flow_id} ({self.status})"
