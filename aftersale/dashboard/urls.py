from django.contrib.auth import views as auth_views
from django.urls import path

from aftersale.dashboard import backtest, connect, uploads, views

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
    # jobs: CSV uploads and backtests, run in the background
    path("<slug:slug>/connect/uploads/", uploads.upload, name="connect-upload"),
    path("<slug:slug>/connect/uploads/<int:run_id>/", uploads.run_status, name="import-run"),
    path("<slug:slug>/flows/<slug:flow>/backtest/", backtest.backtest, name="flow-backtest"),
    path(
        "<slug:slug>/flows/<slug:flow>/backtest/<int:run_id>/",
        backtest.run_status,
        name="backtest-run",
    ),
]
