"""Reading coupons."""

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.coupons.models import DiscountKind
from aftersale.coupons.selectors import latest_coupon
from aftersale.coupons.services import issue_coupon, save_program
from aftersale.customers.models import Customer

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def customer(store, name):
    return Customer.objects.create(
        store=store, external_id=name, email=f"{name}@example.com", created_at=T0
    )


@pytest.mark.django_db
def test_the_latest_coupon_is_the_newest_the_program_issued_to_the_customer(store):
    offer = save_program(store=store, slug="thanks", kind=DiscountKind.PERCENT, amount=Decimal(10))
    other_offer = save_program(
        store=store, slug="winback", kind=DiscountKind.FIXED, amount=Decimal(5)
    )
    ann, bob = customer(store, "ann"), customer(store, "bob")
    issue_coupon(program=offer, customer=ann, now=T0)
    newest = issue_coupon(program=offer, customer=ann, now=T0 + dt.timedelta(days=2))
    issue_coupon(program=offer, customer=ann, now=T0 + dt.timedelta(days=1))
    issue_coupon(program=other_offer, customer=ann, now=T0 + dt.timedelta(days=3))
    issue_coupon(program=offer, customer=bob, now=T0 + dt.timedelta(days=4))

    assert latest_coupon(program_id=offer.pk, customer_id=ann.pk) == newest


@pytest.mark.django_db
def test_of_two_coupons_issued_at_the_same_moment_the_later_one_is_the_latest(store):
    offer = save_program(store=store, slug="thanks", kind=DiscountKind.PERCENT, amount=Decimal(10))
    ann = customer(store, "ann")
    issue_coupon(program=offer, customer=ann, now=T0)
    second = issue_coupon(program=offer, customer=ann, now=T0)

    assert latest_coupon(program_id=offer.pk, customer_id=ann.pk) == second


@pytest.mark.django_db
def test_a_customer_the_program_never_gave_a_coupon_has_no_latest_coupon(store):
    offer = save_program(store=store, slug="thanks", kind=DiscountKind.PERCENT, amount=Decimal(5))
    issue_coupon(program=offer, customer=customer(store, "bob"), now=T0)

    assert latest_coupon(program_id=offer.pk, customer_id=customer(store, "ann").pk) is None
