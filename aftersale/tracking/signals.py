"""What tracking announces to the apps above it, which it may not import."""

from django.dispatch import Signal

# A person read or clicked an email: sent with store_id, customer_id and occurred_at
# (attribution credits the orders that followed within its windows).
engagement_recorded = Signal()
