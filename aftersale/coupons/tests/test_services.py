"""Issuing unique coupon codes and noticing the orders that redeem them."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from aftersale.coupons import services
from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind
from aftersale.coupons.services import issue_coupon, record_redemptions, save_program
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.models import Order
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
# What a code promises to whoever types it in: no 0/O or 1/I.
UNAMBIGUOUS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def program(store: Store, **terms) -> CouponProgram:
    terms = {"kind": DiscountKind.PERCENT, "amount": Decimal("15"), "valid_days": 14, **terms}
    return save_program(store=store, slug="thanks", **terms)


def order(
    store: Store,
    order_id: str,
    *,
    customer: str = "ann",
    at: dt.datetime,
    codes: tuple[str, ...] = (),
    total: str = "50.00",
    cancelled_at: dt.datetime | None = None,
    refunded_at: dt.datetime | None = None,
) -> Order:
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=at,
        line_items=(LineItemRecord("milk", 1, Decimal(total), product_name="Milk"),),
        discount_codes=codes,
        cancelled_at=cancelled_at,
        refunded_at=refunded_at,
    )
    result = ingest_orders(store=store, records=[record], now=at)
    return Order.objects.get(pk=(result.created or result.updated)[0])


def customer(store: Store, name: str = "ann") -> Customer:
    return Customer.objects.get_or_create(
        store=store, external_id=name, defaults={"email": f"{name}@example.com", "created_at": T0}
    )[0]


@pytest.fixture
def other_store(db: None) -> Store:
    return create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=T0,
    )


# Programs


@pytest.mark.django_db
def test_saving_a_program_again_updates_its_terms_instead_of_adding_one(store):
    program(store, amount=Decimal("10"))
    program(store, amount=Decimal("20"), minimum_order=Decimal("30"))

    saved = CouponProgram.objects.get()
    assert (saved.amount, saved.minimum_order) == (Decimal("20"), Decimal("30"))


# Issuing


@pytest.mark.django_db
def test_a_code_is_the_programs_prefix_and_eight_unambiguous_characters(store):
    coupon = issue_coupon(
        program=program(store, code_prefix="CART"), customer=customer(store), now=T0
    )

    assert re.fullmatch(rf"CART-[{UNAMBIGUOUS}]{{8}}", coupon.code)


@pytest.mark.django_db
def test_every_recipient_gets_a_code_of_their_own(store):
    offer = program(store)

    codes = [
        issue_coupon(program=offer, customer=customer(store, f"c{i}"), now=T0).code
        for i in range(200)
    ]
    codes.append(issue_coupon(program=offer, customer=customer(store, "c0"), now=T0).code)

    assert len(set(codes)) == len(codes)  # a second coupon for c0 is a new code too


@pytest.mark.django_db
def test_codes_draw_from_all_32_unambiguous_characters(store):
    # 8 characters of 32 is 40 bits; 1,600 draws miss one of the 32 with odds ~ 1e-21.
    offer = program(store)
    ann = customer(store)
    drawn = "".join(
        issue_coupon(program=offer, customer=ann, now=T0).code.removeprefix("THANKS-")
        for _ in range(200)
    )

    assert set(drawn) == set(UNAMBIGUOUS)


@pytest.mark.django_db
def test_a_coupon_is_valid_from_issue_for_the_programs_valid_days(store):
    coupon = issue_coupon(program=program(store, valid_days=3), customer=customer(store), now=T0)

    assert (coupon.issued_at, coupon.expires_at) == (T0, T0 + 3 * DAY)
    assert (coupon.redeemed_at, coupon.store_id) == (None, store.pk)


@pytest.mark.django_db
def test_a_code_already_taken_in_the_store_is_drawn_again(store, monkeypatch):
    draws = iter(["AAAAAAAA", "AAAAAAAA", "BBBBBBBB"])
    monkeypatch.setattr(services, "_random_code", lambda: next(draws))
    offer = program(store)

    first = issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)
    second = issue_coupon(program=offer, customer=customer(store, "bob"), now=T0)

    assert (first.code, second.code) == ("THANKS-AAAAAAAA", "THANKS-BBBBBBBB")


@pytest.mark.django_db
def test_issuing_gives_up_with_a_clear_error_when_every_draw_is_taken(store, monkeypatch):
    monkeypatch.setattr(services, "_random_code", lambda: "AAAAAAAA")
    offer = program(store)
    issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)

    with pytest.raises(RuntimeError, match="could not find a free coupon code for program thanks"):
        issue_coupon(program=offer, customer=customer(store, "bob"), now=T0)
    assert Coupon.objects.count() == 1


@pytest.mark.django_db
def test_two_stores_may_hand_out_the_same_code(store, other_store, monkeypatch):
    monkeypatch.setattr(services, "_random_code", lambda: "AAAAAAAA")

    mine = issue_coupon(program=program(store), customer=customer(store), now=T0)
    theirs = issue_coupon(program=program(other_store), customer=customer(other_store), now=T0)

    assert mine.code == theirs.code and mine.store_id != theirs.store_id


# Redeeming


@pytest.mark.django_db
def test_a_later_order_using_the_code_redeems_the_coupon(store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    used = order(store, "1", at=T0 + DAY, codes=(coupon.code,))

    assert record_redemptions(store=store, orders=[used]) == [coupon]

    coupon.refresh_from_db()
    assert (coupon.redeemed_at, coupon.redeemed_order_id) == (T0 + DAY, used.pk)


@pytest.mark.django_db
def test_a_code_typed_in_lower_case_with_spaces_still_redeems(store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    used = order(store, "1", at=T0 + DAY, codes=(f"  {coupon.code.lower()} ",))

    assert record_redemptions(store=store, orders=[used]) == [coupon]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "placed", [T0 - DAY, T0 + 14 * DAY + dt.timedelta(seconds=1)], ids=["before", "after"]
)
def test_an_order_placed_outside_the_coupons_validity_does_not_redeem_it(store, placed):
    coupon = issue_coupon(program=program(store, valid_days=14), customer=customer(store), now=T0)
    used = order(store, "1", at=placed, codes=(coupon.code,))

    assert record_redemptions(store=store, orders=[used]) == []
    coupon.refresh_from_db()
    assert coupon.redeemed_at is None


@pytest.mark.django_db
def test_an_order_placed_at_the_moment_the_coupon_expires_still_redeems_it(store):
    coupon = issue_coupon(program=program(store, valid_days=14), customer=customer(store), now=T0)
    used = order(store, "1", at=T0 + 14 * DAY, codes=(coupon.code,))

    assert record_redemptions(store=store, orders=[used]) == [coupon]


@pytest.mark.django_db
def test_an_order_below_the_programs_minimum_does_not_redeem_it(store):
    offer = program(store, minimum_order=Decimal("50.00"))
    coupon = issue_coupon(program=offer, customer=customer(store), now=T0)
    small = order(store, "1", at=T0 + DAY, codes=(coupon.code,), total="49.99")
    enough = order(store, "2", at=T0 + 2 * DAY, codes=(coupon.code,), total="50.00")

    assert record_redemptions(store=store, orders=[small]) == []
    assert record_redemptions(store=store, orders=[enough]) == [coupon]


@pytest.mark.django_db
@pytest.mark.parametrize("undone", ["cancelled", "refunded"])
def test_a_cancelled_or_refunded_order_does_not_redeem_the_coupon(store, undone):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    later = T0 + 2 * DAY
    used = order(
        store,
        "1",
        at=T0 + DAY,
        codes=(coupon.code,),
        cancelled_at=later if undone == "cancelled" else None,
        refunded_at=later if undone == "refunded" else None,
    )
    assert used.status == undone

    assert record_redemptions(store=store, orders=[used]) == []
    coupon.refresh_from_db()
    assert coupon.redeemed_at is None


@pytest.mark.django_db
def test_a_redeemed_coupon_keeps_the_order_that_redeemed_it_first(store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    first = order(store, "1", at=T0 + DAY, codes=(coupon.code,))
    record_redemptions(store=store, orders=[first])
    again = order(store, "2", at=T0 + 2 * DAY, codes=(coupon.code,))

    assert record_redemptions(store=store, orders=[again]) == []
    coupon.refresh_from_db()
    assert (coupon.redeemed_at, coupon.redeemed_order_id) == (T0 + DAY, first.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("second_placed", [2, 30], ids=["still_valid", "after_expiry"])
def test_of_two_orders_arriving_together_with_one_code_the_first_redeems_it(store, second_placed):
    coupon = issue_coupon(program=program(store, valid_days=14), customer=customer(store), now=T0)
    first = order(store, "1", at=T0 + DAY, codes=(coupon.code,))
    second = order(store, "2", at=T0 + second_placed * DAY, codes=(coupon.code,))

    for arriving in ([first, second], [second, first]):
        Coupon.objects.update(redeemed_at=None, redeemed_order=None)
        assert record_redemptions(store=store, orders=arriving) == [coupon]
        coupon.refresh_from_db()
        assert (coupon.redeemed_at, coupon.redeemed_order_id) == (T0 + DAY, first.pk)


@pytest.mark.django_db
def test_an_order_in_another_store_does_not_redeem_a_code_of_this_store(store, other_store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    elsewhere = order(other_store, "1", at=T0 + DAY, codes=(coupon.code,))

    assert record_redemptions(store=other_store, orders=[elsewhere]) == []
    coupon.refresh_from_db()
    assert coupon.redeemed_at is None


@pytest.mark.django_db
def test_orders_without_codes_redeem_nothing(store):
    issue_coupon(program=program(store), customer=customer(store), now=T0)

    assert record_redemptions(store=store, orders=[order(store, "1", at=T0 + DAY)]) == []
