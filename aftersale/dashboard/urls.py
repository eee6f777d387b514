from django.contrib.auth import views as auth_views
from django.urls import path

from aftersale.dashboard import (
    automations,
    backtest,
    builder,
    connect,
    coupons,
    live_strategies,
    picks,
    reports,
    store_report,
    stores,
    templates_editor,
    uploads,
    views,
)

app_name = "dashboard"

urlpatterns = [
    path("login/", stores.FirstRunLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    # Sign-in and stores, settings and members (dashboard/stores.py)
    path("setup/", stores.setup, name="setup"),
    path("stores/new/", stores.store_create, name="store-create"),
    path("invitations/<str:token>/", stores.invitation, name="invitation"),
    path("<slug:slug>/settings/", stores.settings_page, name="settings"),
    path(
        "<slug:slug>/settings/test-email/", stores.settings_test_email, name="settings-test-email"
    ),
    path("<slug:slug>/settings/members/", stores.members, name="members"),
    path(
        "<slug:slug>/settings/members/<int:member_id>/remove/",
        stores.member_remove,
        name="member-remove",
    ),
    path("<slug:slug>/recommendations/", views.recommendations, name="recommendations"),
    path(
        "<slug:slug>/recommendations/live/",
        live_strategies.live_strategy_pin,
        name="live-strategy-pin",
    ),
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
    # Flow report (report helper)
    path("<slug:slug>/flows/<slug:flow>/report/", reports.flow_report_page, name="flow-report"),
    path(
        "<slug:slug>/flows/<slug:flow>/report.csv", reports.flow_report_csv, name="flow-report-csv"
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
    # Automations and the flow builder (h14-builder).
    path("<slug:slug>/automations/", automations.automations, name="automations"),
    path(
        "<slug:slug>/automations/setup/<slug:ready>/",
        automations.flow_setup,
        name="flow-setup",
    ),
    path("<slug:slug>/flows/new/", builder.flow_new, name="flow-new"),
    path("<slug:slug>/flows/<slug:flow>/edit/", builder.flow_edit, name="flow-edit"),
    # jobs: CSV uploads and backtests, run in the background
    path(
        "<slug:slug>/connect/platforms/<slug:platform>/secret/",
        connect.set_platform_secret,
        name="connect-platform-secret",
    ),
    path(
        "<slug:slug>/connect/deliveries/<int:delivery_id>/replay/",
        connect.replay,
        name="connect-replay",
    ),
    path("<slug:slug>/connect/uploads/", uploads.upload, name="connect-upload"),
    path("<slug:slug>/connect/uploads/<int:run_id>/", uploads.run_status, name="import-run"),
    path("<slug:slug>/flows/<slug:flow>/backtest/", backtest.backtest, name="flow-backtest"),
    path(
        "<slug:slug>/flows/<slug:flow>/backtest/<int:run_id>/",
        backtest.run_status,
        name="backtest-run",
    ),
    # Coupons (dashboard/coupons.py)
    path("<slug:slug>/coupons/", coupons.coupons, name="coupons"),
    path("<slug:slug>/coupons/<slug:program>/", coupons.coupon_program, name="coupon-program"),
    path(
        "<slug:slug>/coupons/<slug:program>/codes.csv",
        coupons.coupon_codes_csv,
        name="coupon-codes-csv",
    ),
    # The store report: repeat purchases and cohorts (dashboard/store_report.py)
    path("<slug:slug>/report/", store_report.store_report_page, name="store-report"),
    path("<slug:slug>/report.csv", store_report.store_report_csv, name="store-report-csv"),
]
