from django.contrib import admin
from django.urls import include, path

from aftersale.api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("esp/", include("anymail.urls")),
    path("", include("aftersale.tracking.urls")),
    path("", include("aftersale.messaging.urls")),
    path("", include("aftersale.recommendations.urls")),
]
