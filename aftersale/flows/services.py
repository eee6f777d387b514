"""Running flows: enrolling customers, exiting them, advancing their steps."""

import datetime as dt
from collections.abc import Sequence

from aftersale.stores.models import Store


def process_orders(*, store: Store, order_ids: Sequence[int], now: dt.datetime) -> None:
    """React to orders that arrived or changed: start flows they trigger, end journeys
    they exit, mark coupons they redeem."""
    raise NotImplementedError  # being written
