from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "aftersale.flows"
    label = "flows"
