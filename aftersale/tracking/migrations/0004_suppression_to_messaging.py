"""The suppression list is messaging's now (messaging 0007 took over the table)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("tracking", "0003_alter_event_kind"),
        ("messaging", "0007_message_about_and_suppression"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Suppression")],
            database_operations=[],
        ),
    ]
