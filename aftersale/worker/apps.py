from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "aftersale.worker"
    label = "worker"
