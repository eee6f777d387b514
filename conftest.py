"""Fixtures shared by every app's tests."""

import datetime as dt

import pytest

from aftersale.lib.clock import VirtualClock
from aftersale.stores.models import Store
from aftersale.stores.services import create_api_key, create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
TEST_SHOP_ADDRESS = "1 Market Street, Springfield, USA"


@pytest.fixture(autouse=True)
def _forget_cached_flow_versions() -> None:
    """Row ids are reused after a test's rollback, so per-id caches must start empty."""
    from aftersale.flows.selectors import definition_of

    definition_of.cache_clear()


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock at Monday 2024-03-04 09:00 UTC."""
    return VirtualClock(T0)


@pytest.fixture
def store(db: None) -> Store:
    """An empty store, with a postal address (marketing emails wait for one)."""
    return create_store(
        name="Test Shop", slug="test-shop", now=T0, physical_address=TEST_SHOP_ADDRESS
    )


@pytest.fixture
def api_key(store: Store) -> str:
    """A raw API key of the test store."""
    _, raw_key = create_api_key(store=store, name="test", now=T0)
    return raw_key
