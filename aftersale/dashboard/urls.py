from django.contrib.auth import views as auth_views
from django.urls import path

from aftersale.dashboard import connect, picks, templates_editor, views

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
    # Templates (dashboard/templates_editor.py)
    path("<slug:slug>/templates/", templates_editor.templates, name="templates"),
    path(
        "<slug:slug>/templates/<slug:template>/",
        templates_editor.template_edit,
        name="template-edit",
    ),
    path(
        "<slug:slug>/templates/<slug:template>/preview/",
        templates_editor.template_preview,
        name="template-preview",
    ),
    path(
        "<slug:slug>/templates/<slug:template>/send-test/",
        templates_editor.template_send_test,
        name="template-send-test",
    ),
    path(
        "<slug:slug>/templates/<slug:template>/customers/",
        templates_editor.template_customers,
        name="template-customers",
    ),
    # Recommendations per customer (dashboard/picks.py)
    path(
        "<slug:slug>/recommendations/customers/",
        picks.customer_picks,
        name="customer-picks",
    ),
]
