"""What messaging announces to the apps above it, which it may not import: they connect
receivers in their AppConfig.ready()."""

from django.dispatch import Signal

# Sent with `message` and `at` once a message bounced hard and its address was
# suppressed, inside the transaction that recorded it; tracking adds the timeline event.
message_bounced = Signal()
