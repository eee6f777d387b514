from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "aftersale.reports"
    label = "reports"
