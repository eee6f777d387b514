from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "aftersale.tracking"
    label = "tracking"

    def ready(self) -> None:
        # Connects the receivers of anymail's tracking and inbound signals.
        from aftersale.tracking import esp_events, replies  # noqa: F401
