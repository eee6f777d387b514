"""Every command's --store option: the named store, the only store, or an error saying
what to do."""

import pytest
from django.core.management.base import CommandError

from aftersale.lib.clock import VirtualClock
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


def test_without_a_slug_the_only_store_is_meant(store: Store) -> None:
    assert store_for_command(None) == store
    assert store_for_command(store.slug) == store


def test_an_unknown_slug_or_a_choice_of_stores_is_a_command_error(
    store: Store, clock: VirtualClock
) -> None:
    with pytest.raises(CommandError, match="no store with slug 'nope'"):
        store_for_command("nope")
    Store.objects.create(slug="second", name="Second", created_at=clock.now())
    with pytest.raises(CommandError, match="pass --store SLUG"):
        store_for_command(None)


@pytest.mark.django_db
def test_with_no_store_yet_the_error_says_how_to_make_one() -> None:
    with pytest.raises(CommandError, match="run `aftersale demo`"):
        store_for_command(None)
