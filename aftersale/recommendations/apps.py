from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "aftersale.recommendations"
    label = "recommendations"
