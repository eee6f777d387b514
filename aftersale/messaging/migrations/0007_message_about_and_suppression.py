"""Messages record what they are about when queued (checkout, campaign; the order of a
flow email too), so messaging never reads the flows' tables; the suppression list moves
from tracking to messaging, which sends and so decides who may be emailed."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def record_what_queued_messages_are_about(apps, schema_editor):
    Message = apps.get_model("messaging", "Message")
    Enrollment = apps.get_model("flows", "Enrollment")
    Flow = apps.get_model("flows", "Flow")
    journey = Enrollment.objects.filter(pk=OuterRef("enrollment_id"))
    in_flows = Message.objects.filter(enrollment_id__isnull=False)
    in_flows.filter(order_id__isnull=True).update(
        order_id=Subquery(journey.values("trigger_order_id")[:1])
    )
    in_flows.update(checkout_id=Subquery(journey.values("trigger_checkout_id")[:1]))
    Message.objects.filter(flow_id__isnull=False).update(
        campaign=Subquery(Flow.objects.filter(pk=OuterRef("flow_id")).values("slug")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ("flows", "0004_enrollment_occasion"),
        ("messaging", "0006_alter_message_message_id"),
        ("orders", "0003_checkout"),
        ("stores", "0001_initial"),
        ("tracking", "0003_alter_event_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="campaign",
            field=models.CharField(blank=True, default="", max_length=50),
        ),
        migrations.AddField(
            model_name="message",
            name="checkout",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="orders.checkout",
            ),
        ),
        migrations.RunPython(record_what_queued_messages_are_about, migrations.RunPython.noop),
        # The table tracking created becomes messaging's, rows and all.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Suppression",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("email", models.EmailField(max_length=254)),
                        (
                            "reason",
                            models.CharField(
                                choices=[
                                    ("unsubscribed", "Unsubscribed"),
                                    ("hard_bounce", "Hard Bounce"),
                                    ("complaint", "Complaint"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("created_at", models.DateTimeField()),
                        (
                            "store",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="stores.store",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "tracking_suppression",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("store", "email"), name="uniq_suppression_address"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="suppression", table=None),
    ]
