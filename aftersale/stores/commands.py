"""The `--store SLUG` option every management command shares."""

from django.core.management.base import CommandError

from aftersale.stores.models import Store
from aftersale.stores.selectors import StoreNotFound, resolve_store


def store_for_command(slug: str | None) -> Store:
    """The store `--store SLUG` names (the only store without one); a CommandError that
    says what is wrong when there is no such store or several to choose from."""
    try:
        return resolve_store(slug=slug)
    except StoreNotFound as error:
        raise CommandError(str(error)) from error
