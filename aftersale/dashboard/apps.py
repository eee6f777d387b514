from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "aftersale.dashboard"
    label = "dashboard"
