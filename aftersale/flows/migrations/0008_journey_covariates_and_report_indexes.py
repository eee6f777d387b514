"""The journey's pre-entry covariates (flows.covariates), filled in for the journeys
already started, and the two indexes the report's reads are covered by."""

from collections import defaultdict

from django.db import migrations, models

from aftersale.flows.covariates import BEFORE_ENTRY, Covariates, PastOrder, covariates_of

_BATCH = 2000
_NOT_PURCHASES = ("cancelled", "refunded")  # orders.models.NOT_PURCHASES, as of now


def fill_covariates(apps, schema_editor):
    Enrollment = apps.get_model("flows", "Enrollment")
    Order = apps.get_model("orders", "Order")
    last = 0
    while True:
        journeys = list(
            Enrollment.objects.filter(pk__gt=last)
            .select_related("store")
            .only("customer_id", "entered_at", "trigger_order_id", "store__currency")
            .order_by("pk")[:_BATCH]
        )
        if not journeys:
            return
        last = journeys[-1].pk
        orders = defaultdict(list)
        rows = (
            Order.objects.filter(
                customer_id__in={j.customer_id for j in journeys},
                placed_at__gte=min(j.entered_at for j in journeys) - BEFORE_ENTRY,
                placed_at__lte=max(j.entered_at for j in journeys),
            )
            .exclude(status__in=_NOT_PURCHASES)
            .values_list("customer_id", "currency", "pk", "placed_at", "total")
        )
        for customer, currency, pk, placed_at, total in rows:
            orders[customer, currency].append(PastOrder(pk, placed_at, total))
        changed = []
        for journey in journeys:
            before = covariates_of(
                at=journey.entered_at,
                trigger_order_id=journey.trigger_order_id,
                orders=orders.get((journey.customer_id, journey.store.currency), ()),
            )
            if before != Covariates():  # the columns' default
                changed.append(
                    (before.spend_90d, before.orders_90d, before.trigger_value, journey.pk)
                )
        with schema_editor.connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Enrollment._meta.db_table} SET spend_90d = %s, orders_90d = %s, "
                "trigger_value = %s WHERE id = %s",
                changed,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_birthday_customer_locale"),
        ("flows", "0007_enrollment_holdout_and_variants"),
        ("orders", "0004_order_refunded_total"),
        ("stores", "0008_attribution_windows"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="orders_90d",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="enrollment",
            name="spend_90d",
            field=models.FloatField(db_default=0.0, default=0.0),
        ),
        migrations.AddField(
            model_name="enrollment",
            name="trigger_value",
            field=models.FloatField(db_default=0.0, default=0.0),
        ),
        migrations.AddIndex(
            model_name="enrollment",
            index=models.Index(
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
        ),
        migrations.AddIndex(
            model_name="enrollment",
            index=models.Index(
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
        ),
        migrations.RunPython(fill_covariates, migrations.RunPython.noop),
    ]
