"""Messages record what they are about when queued (checkout, campaign; the order of a
flow email too), so messaging never reads the flows' tables (0008 fills them in for the
emails already queued); the suppression list moves from tracking to messaging, which
sends and so decides who may be emailed."""

import django.db.models.deletion
from django.db import migrations, models


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
