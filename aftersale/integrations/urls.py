from django.urls import path

from aftersale.integrations.platforms.views import platform_webhook

urlpatterns = [
    path("<slug:platform>/<slug:store_slug>/", platform_webhook, name="platform-webhook"),
]
