"""Reading customers."""

import datetime as dt

from django.db.models import QuerySet

from aftersale.customers.models import ERASED_ID_PREFIX, Customer
from aftersale.stores.models import Store


def store_customers(
    *,
    store: Store,
    email: str | None = None,
    accepts_marketing: bool | None = None,
    created_since: dt.datetime | None = None,
) -> QuerySet[Customer]:
    """The store's customers (not the erased) in id order; when given, only those with the address
    `email` (as stored: lib.addresses.normalized_address), those whose consent to marketing is
    `accepts_marketing` (an unsubscribed customer does not accept it) and those first
    seen at or after `created_since`."""
    customers = (
        Customer.objects.filter(store=store)
        .exclude(external_id__startswith=ERASED_ID_PREFIX)
        .order_by("pk")
    )
    if email is not None:
        customers = customers.filter(email=email)
    if accepts_marketing is True:
        customers = customers.filter(accepts_marketing=True, unsubscribed_at__isnull=True)
    elif accepts_marketing is False:
        customers = customers.exclude(accepts_marketing=True, unsubscribed_at__isnull=True)
    if created_since is not None:
        customers = customers.filter(created_at__gte=created_since)
    return customers


def customer_by_external_id(*, store: Store, external_id: str) -> Customer | None:
    """The store's customer with the store's own id `external_id`, if there is one."""
    return Customer.objects.filter(store=store, external_id=external_id).first()
