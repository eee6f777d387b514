from django.apps import AppConfig


class StoresConfig(AppConfig):
    name = "aftersale.stores"
    label = "stores"
