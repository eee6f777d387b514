from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path

from aftersale.api.api import api
from aftersale.tracking.webhooks import esp_webhook_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Only the configured ESP's webhooks (none with SMTP): every other /esp/ URL is a 404.
    *esp_webhook_urls(settings.EMAIL_TRANSPORT),
    path("dashboard/", include("aftersale.dashboard.urls")),
    # Static files (the dashboard's stylesheet, htmx, the admin's) straight from the apps,
    # with DEBUG off too: the embedded default has no front web server to do it. The
    # finders only look in the apps' static folders, never outside them.
    path(f"{settings.STATIC_URL.strip('/')}/<path:path>", serve_static, {"insecure": True}),
    path("", include("aftersale.tracking.urls")),
    path("", include("aftersale.messaging.urls")),
]
