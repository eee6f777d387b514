from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from aftersale.api.api import api
from aftersale.tracking.webhooks import esp_webhook_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Only the configured ESP's webhooks (none with SMTP): every other /esp/ URL is a 404.
    *esp_webhook_urls(settings.EMAIL_TRANSPORT),
    path("dashboard/", include("aftersale.dashboard.urls")),
    # Shop platforms' webhooks (integrations/platforms, docs/platforms.md).
    path("webhooks/", include("aftersale.integrations.urls")),
    path("", include("aftersale.tracking.urls")),
    path("", include("aftersale.messaging.urls")),
    # Probes: /healthz (alive), /readyz (database, migrations, broker); docs/deployment.md.
    path("", include("aftersale.production.urls")),
]
