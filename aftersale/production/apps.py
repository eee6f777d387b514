from django.apps import AppConfig
from django.conf import settings


class ProductionConfig(AppConfig):
    name = "aftersale.production"
    label = "production"

    def ready(self) -> None:
        # In production mode, what the web process stores for the worker (an upload, a
        # backtest, a platform webhook) is enqueued once its transaction commits; in the
        # embedded mode the worker loop finds it in the database, as before.
        if settings.BROKER_URL:
            from aftersale.production.enqueue import connect

            connect()
