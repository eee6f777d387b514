from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "aftersale.attribution"
    label = "attribution"

    def ready(self) -> None:
        # Tracking sits below attribution and cannot call it: a read or a click recorded
        # late (an email service's webhook) may earn an order already stored.
        from aftersale.attribution import services
        from aftersale.tracking.signals import engagement_recorded

        engagement_recorded.connect(
            services.on_engagement_recorded, dispatch_uid="attribution.engagement"
        )
