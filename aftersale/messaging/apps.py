from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "aftersale.messaging"
    label = "messaging"
