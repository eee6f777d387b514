"""Mark on every message what its recorded events say its recipient did (messaging 0011
added the column empty): the reports count reads and clicks from the messages alone."""

from django.db import migrations
from django.db.models import F

# Engagement's bits (messaging.models) and the once-keys of their events, as of now.
_BITS = (
    (1, {"once_key": "open"}),
    (2, {"once_key__startswith": "click:"}),
    (4, {"once_key": "reply"}),
    (8, {"once_key": "unsubscribe"}),
)


def mark_engagement(apps, schema_editor):
    Event = apps.get_model("tracking", "Event")
    Message = apps.get_model("messaging", "Message")
    for bit, condition in _BITS:
        engaged = Event.objects.filter(message__isnull=False, **condition).values("message_id")
        Message.objects.filter(pk__in=engaged).update(engagement=F("engagement").bitor(bit))


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0011_message_engagement"),
        ("tracking", "0004_suppression_to_messaging"),
    ]

    operations = [migrations.RunPython(mark_engagement, migrations.RunPython.noop)]
