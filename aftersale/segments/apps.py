from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "aftersale.segments"
    label = "segments"
