from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "aftersale.tracking"
    label = "tracking"
