from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "aftersale.api"
    label = "api"
