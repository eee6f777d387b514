"""Reading coupons."""

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.coupons.models import DiscountKind
from aftersale.coupons.selectors import (
    latest_coupon,
    latest_coupon_of,
    latest_coupons_of,
    program_by_slug,
    program_codes,
    program_summaries,
)
from aftersale.coupons.services import (
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.coupons.tests.test_services import order
from aftersale.customers.models import Customer
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


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
def test_the_latest_coupons_of_many_customers_are_each_ones_latest_coupon_of(store):
    offer = save_program(store=store, slug="thanks", kind=DiscountKind.PERCENT, amount=Decimal(10))
    step = save_program(
        store=store, slug="thanks--last", kind=DiscountKind.FIXED, amount=Decimal(5)
    )
    other = save_program(store=store, slug="winback", kind=DiscountKind.FIXED, amount=Decimal(5))
    ann, bob, cy, dee = (customer(store, name) for name in ("ann", "bob", "cy", "dee"))
    issue_coupon(program=offer, customer=ann, now=T0 + 2 * DAY)
    issue_coupon(program=step, customer=ann, now=T0 + DAY)  # older, of the other program
    issue_coupon(program=other, customer=ann, now=T0 + 3 * DAY)  # not one of the programs
    issue_coupon(program=offer, customer=bob, now=T0)
    issue_coupon(program=step, customer=bob, now=T0)  # the same moment: the later one
    issue_coupon(program=other, customer=cy, now=T0)
    programs = [offer.pk, step.pk]
    everyone = [ann.pk, bob.pk, cy.pk, dee.pk]

    latest = latest_coupons_of(program_ids=programs, customer_ids=everyone)

    one_by_one = {
        c: found
        for c in everyone
        if (found := latest_coupon_of(program_ids=programs, customer_id=c)) is not None
    }
    assert latest == one_by_one
    assert [latest[c].program.slug for c in (ann.pk, bob.pk)] == ["thanks", "thanks--last"]
    assert latest_coupons_of(program_ids=[], customer_ids=everyone) == {}


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


@pytest.mark.django_db
def test_a_programs_summary_counts_issued_redeemed_flagged_and_codes_not_handed_out(store):
    offer = save_program(
        store=store, slug="thanks", kind="fixed", amount=Decimal(5), minimum_order=Decimal(25)
    )
    save_program(store=store, slug="empty", kind="free_shipping")
    ann, bob = customer(store, "ann"), customer(store, "bob")
    mine = issue_coupon(program=offer, customer=ann, now=T0)
    lent = issue_coupon(program=offer, customer=bob, now=T0)
    issue_coupon(program=offer, customer=customer(store, "cy"), now=T0)
    issue_coupon(program=offer, customer=customer(store, "dee"), now=T0)
    generate_codes(program=offer, count=3, now=T0)
    record_redemptions(
        store=store,
        orders=[
            order(store, "1", customer="ann", at=T0 + DAY, codes=(mine.code,)),
            order(store, "2", customer="eve", at=T0 + DAY, codes=(lent.code,)),
        ],
    )

    empty, thanks = program_summaries(store=store)

    assert (
        thanks.terms
        == f"5 {store.currency} off on orders of 25 {store.currency} or more, valid 14 days"
    )
    assert (thanks.issued, thanks.redeemed, thanks.flagged, thanks.unassigned) == (4, 2, 1, 3)
    assert thanks.redemption_rate_text == "2 of 4 (50.0 %)"
    assert (empty.issued, empty.redemption_rate, empty.redemption_rate_text) == (
        0,
        None,
        "none issued",
    )


@pytest.mark.django_db
def test_a_store_sees_only_its_own_programs(store):
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="O", slug="o", now=T0
    )
    save_program(store=other, slug="thanks", kind="percent", amount=Decimal(10))

    assert program_summaries(store=store) == []
    assert program_by_slug(store=store, slug="thanks") is None


@pytest.mark.django_db
def test_a_programs_codes_come_latest_first(store):
    offer = save_program(store=store, slug="thanks", kind="percent", amount=Decimal(10))
    first = issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)
    generate_codes(program=offer, count=1, now=T0)

    codes = list(program_codes(program=offer))

    assert codes[-1] == first and codes[0].customer is None
