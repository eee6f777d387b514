from django.contrib.auth import views as auth_views
from django.urls import path

from aftersale.dashboard import automations, builder, connect, views

app_name = "dashboard"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("<slug:slug>/recommendations/", views.recommendations, name="recommendations"),
    path(
        "<slug:slug>/recommendations/runs/<int:run_id>/chart.png",
        views.evaluation_chart,
        name="evaluation-chart",
    ),
    path("<slug:slug>/connect/", connect.connect, name="connect"),
    path("<slug:slug>/connect/keys/", connect.create_key, name="connect-create-key"),
    path(
        "<slug:slug>/connect/keys/<int:key_id>/revoke/",
        connect.revoke_key,
        name="connect-revoke-key",
    ),
    # Automations and the flow builder (h14-builder).
    path("<slug:slug>/automations/", automations.automations, name="automations"),
    path(
        "<slug:slug>/automations/setup/<slug:ready>/",
        automations.flow_setup,
        name="flow-setup",
    ),
    path("<slug:slug>/flows/new/", builder.flow_new, name="flow-new"),
    path("<slug:slug>/flows/<slug:flow>/edit/", builder.flow_edit, name="flow-edit"),
]
