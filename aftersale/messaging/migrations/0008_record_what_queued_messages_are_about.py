"""What each email already in the outbox is about, from the journey that queued it: a
migration of its own, since PostgreSQL refuses 0007's deferred index creation after
row updates in the same transaction."""

from django.db import migrations
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

    dependencies = [("messaging", "0007_message_about_and_suppression")]

    operations = [
        migrations.RunPython(record_what_queued_messages_are_about, migrations.RunPython.noop),
    ]
