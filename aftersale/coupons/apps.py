from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "aftersale.coupons"
    label = "coupons"
