from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "aftersale.tracking"
    label = "tracking"

    def ready(self) -> None:
        # Connects the receivers of anymail's tracking and inbound signals, and of
        # messaging's bounces (messaging sits below tracking and cannot call it), and
        # registers the check of the ESP webhooks' secrets.
        from aftersale.messaging.outbox.signals import message_bounced
        from aftersale.tracking import esp_events, replies, services, webhooks

        del esp_events, replies, webhooks  # imported for the receivers and the check
        message_bounced.connect(services.on_message_bounced, dispatch_uid="tracking.bounce")
