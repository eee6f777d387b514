"""Stores and their dashboard members in Django's admin: how a superuser gives a
merchant's login access to their store."""

from django.contrib import admin

from aftersale.stores.models import Store, StoreMember


class StoreMemberInline(admin.TabularInline):
    model = StoreMember
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [StoreMemberInline]
