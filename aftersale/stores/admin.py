"""Stores, their dashboard members and their API keys in Django's admin: how a superuser
gives a merchant's login access to their store, and revokes a key. A key's hash is never
shown, and keys are not added here: a new key is shown once, by `aftersale keys create`
or the dashboard's Connect page."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, URLField
from django.forms import ModelForm
from django.http import HttpRequest

from aftersale.lib import clock
from aftersale.stores.models import ApiKey, Store, StoreMember
from aftersale.stores.services import revoke_api_key

KEY_TIMES = ("created_at", "last_used_at", "revoked_at")


class StoreMemberInline(admin.TabularInline):
    model = StoreMember
    extra = 1
    autocomplete_fields = ["user"]


class ApiKeyInline(admin.TabularInline):
    """The store's keys, read only: they are added and revoked under API keys."""

    model = ApiKey
    fields = readonly_fields = ("name", *KEY_TIMES)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]
    # A website or logo typed without a scheme is https (Django 6's default, taken now).
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    # The email transport and its credentials are set on the dashboard's Settings page,
    # which stores them encrypted and never shows them back.
    exclude = [
        "email_transport",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "esp_name",
    ]
    inlines = [StoreMemberInline, ApiKeyInline]

    def save_model(self, request: HttpRequest, obj: Store, form: ModelForm, change: bool) -> None:
        """A new store is created now (the clock's now)."""
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "store", *KEY_TIMES]
    list_filter = ["store"]
    search_fields = ["name", "store__slug"]
    actions = ["revoke"]

    fields = readonly_fields = ("store", "name", *KEY_TIMES)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a new key must be shown once: `aftersale keys create`, or Connect

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoked keys stay listed: what was used, and until when

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        """Refuse the selected keys from now on."""
        now = clock.now()
        for key in queryset:
            revoke_api_key(key=key, now=now)
        messages.success(request, f"Revoked {queryset.count()} API key(s).")
