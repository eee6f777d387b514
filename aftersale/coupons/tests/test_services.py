"""Issuing unique coupon codes and noticing the orders that redeem them."""

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersale.coupons import services
from aftersale.coupons.models import Coupon, CouponProgram, DiscountKind
from aftersale.coupons.services import (
    InvalidCount,
    InvalidProgram,
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.models import Order
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
# What a code promises to whoever types it in: no 0/O and no 1/I/L.
UNAMBIGUOUS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


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
def test_a_code_is_the_programs_prefix_and_nine_unambiguous_characters(store):
    coupon = issue_coupon(
        program=program(store, code_prefix="CART"), customer=customer(store), now=T0
    )

    assert re.fullmatch(rf"CART-[{UNAMBIGUOUS}]{{9}}", coupon.code)


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
def test_codes_draw_from_all_31_unambiguous_characters(store):
    # 1,800 draws miss one of the 31 with odds ~ 1e-24.
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


# Validating terms


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"kind": "percent", "amount": "0"}, "amount"),
        ({"kind": "percent", "amount": "100.01"}, "amount"),
        ({"kind": "fixed", "amount": "-1"}, "amount"),
        ({"kind": "fixed", "amount": "4.999"}, "amount"),
        ({"kind": "fixed", "amount": "five"}, "amount"),
        ({"kind": "fixed", "amount": "5", "minimum_order": "-0.01"}, "minimum_order"),
        ({"kind": "percent", "amount": "10", "valid_days": 0}, "valid_days"),
        ({"kind": "percent", "amount": "10", "valid_days": 366}, "valid_days"),
        ({"kind": "percent", "amount": "10", "code_prefix": "thanks"}, "code_prefix"),
        ({"kind": "percent", "amount": "10", "code_prefix": "ABCDEFGHIJKLM"}, "code_prefix"),
        ({"kind": "bogof"}, "kind"),
    ],
)
def test_a_program_with_a_bad_term_is_refused_naming_the_field_and_nothing_is_stored(
    store, terms, field
):
    with pytest.raises(InvalidProgram) as refused:
        save_program(store=store, slug="thanks", **terms)

    assert set(refused.value.errors) == {field}
    assert not CouponProgram.objects.exists()


@pytest.mark.django_db
def test_every_bad_term_is_named_at_once(store):
    with pytest.raises(InvalidProgram) as refused:
        save_program(
            store=store, slug="x", kind="percent", amount="0", valid_days=0, code_prefix="a-b"
        )

    assert set(refused.value.errors) == {"amount", "valid_days", "code_prefix"}


@pytest.mark.django_db
def test_changing_one_term_keeps_the_others(store):
    program(store, minimum_order=Decimal("30"), code_prefix="HELLO")
    changed = save_program(store=store, slug="thanks", valid_days=7)

    assert (changed.amount, changed.minimum_order, changed.valid_days, changed.code_prefix) == (
        Decimal("15"),
        Decimal("30"),
        7,
        "HELLO",
    )


@pytest.mark.django_db
def test_a_percent_of_exactly_100_and_a_fixed_amount_of_zero_are_allowed(store):
    assert save_program(store=store, slug="a", kind="percent", amount="100").amount == 100
    assert save_program(store=store, slug="b", kind="fixed", amount="0.00").amount == 0


# How unguessable a code is


def test_the_code_alphabet_has_no_ambiguous_characters_and_codes_carry_40_bits():
    assert not set("0O1IL") & set(services.CODE_ALPHABET)
    assert len(set(services.CODE_ALPHABET)) == len(services.CODE_ALPHABET)
    assert len(services.CODE_ALPHABET) ** services.CODE_LENGTH >= 2**40


def test_codes_are_drawn_from_secrets(monkeypatch):
    drawn: list[str] = []

    def choice(alphabet: str) -> str:
        drawn.append(alphabet)
        return alphabet[0]

    monkeypatch.setattr(services.secrets, "choice", choice)

    assert services._random_code() == "2" * services.CODE_LENGTH
    assert drawn == [services.CODE_ALPHABET] * services.CODE_LENGTH


# Bulk generation


@pytest.mark.django_db
def test_bulk_generation_adds_unique_codes_tied_to_nobody(store):
    offer = program(store, code_prefix="BULK")

    assert generate_codes(program=offer, count=2_500, now=T0) == 2_500

    codes = list(Coupon.objects.filter(program=offer).values_list("code", "customer_id"))
    assert len(codes) == 2_500 == len({code for code, _ in codes})
    assert all(re.fullmatch(rf"BULK-[{UNAMBIGUOUS}]{{9}}", code) for code, _ in codes)
    assert {customer_id for _, customer_id in codes} == {None}


@pytest.mark.django_db
def test_bulk_generation_draws_again_a_code_already_taken(store, monkeypatch):
    offer = program(store)
    issue_coupon(program=offer, customer=customer(store), now=T0)
    taken = Coupon.objects.get().code.removeprefix("THANKS-")
    draws = iter([taken, "BBBBBBBBB", "CCCCCCCCC"])
    monkeypatch.setattr(services, "_random_code", lambda: next(draws))

    assert generate_codes(program=offer, count=2, now=T0) == 2
    assert set(Coupon.objects.filter(customer=None).values_list("code", flat=True)) == {
        "THANKS-BBBBBBBBB",
        "THANKS-CCCCCCCCC",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, -1, 100_001])
def test_bulk_generation_refuses_a_count_outside_1_to_100000(store, count):
    with pytest.raises(InvalidCount):
        generate_codes(program=program(store), count=count, now=T0)


@pytest.mark.django_db
def test_bulk_codes_are_handed_out_first_oldest_first_then_new_codes(store):
    offer = program(store, valid_days=3)
    generate_codes(program=offer, count=2, now=T0 - 10 * DAY)
    pooled = list(Coupon.objects.order_by("id").values_list("code", flat=True))

    first = issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)
    second = issue_coupon(program=offer, customer=customer(store, "bob"), now=T0)
    third = issue_coupon(program=offer, customer=customer(store, "cy"), now=T0)

    assert [first.code, second.code] == pooled
    assert third.code not in pooled
    assert (first.issued_at, first.expires_at) == (T0, T0 + 3 * DAY)
    assert Coupon.objects.count() == 3


@pytest.mark.django_db
def test_a_bulk_code_nobody_was_given_is_not_redeemed(store):
    offer = program(store)
    generate_codes(program=offer, count=1, now=T0)
    code = Coupon.objects.get().code

    order(store, "1", at=T0 + DAY, codes=(code,))
    record_redemptions(store=store, orders=Order.objects.all())

    assert Coupon.objects.get().redeemed_at is None


# Redemption: when, and by whom


@pytest.mark.django_db
def test_an_order_placed_before_the_send_is_recorded_still_redeems(store):
    # The code is cut when the email is queued; the send is recorded later (or never,
    # when the relay is slow): the order in between redeems it.
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)

    placed = order(store, "1", at=T0 + dt.timedelta(minutes=1), codes=(coupon.code,))
    record_redemptions(store=store, orders=[placed])

    coupon.refresh_from_db()
    assert (coupon.redeemed_at, coupon.redeemed_order_id) == (placed.placed_at, placed.pk)
    assert not coupon.redeemed_by_other


@pytest.mark.django_db
def test_an_order_stored_before_its_coupon_was_issued_is_checked_again_at_issue(store, monkeypatch):
    # The order is in the database before the scheduler cuts the code for a send that
    # was due earlier; it carries the code the scheduler will draw.
    monkeypatch.setattr(services, "_random_code", lambda: "ZZZZZZZZZ")
    early = order(store, "1", at=T0 + DAY, codes=("thanks-zzzzzzzzz",))

    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)

    assert (coupon.redeemed_at, coupon.redeemed_order_id) == (early.placed_at, early.pk)


@pytest.mark.django_db
def test_an_order_placed_before_the_issue_does_not_redeem_it_even_when_checked_again(store):
    offer = program(store)
    generate_codes(program=offer, count=1, now=T0 - 5 * DAY)
    code = Coupon.objects.get().code
    order(store, "1", at=T0 - DAY, codes=(code,))  # before the code was this customer's

    coupon = issue_coupon(program=offer, customer=customer(store), now=T0)

    assert coupon.code == code and coupon.redeemed_at is None


@pytest.mark.django_db
def test_a_code_used_by_someone_else_is_counted_and_flagged(store):
    coupon = issue_coupon(program=program(store), customer=customer(store, "ann"), now=T0)

    used = order(store, "1", customer="bob", at=T0 + DAY, codes=(coupon.code,))
    record_redemptions(store=store, orders=[used])

    coupon.refresh_from_db()
    assert coupon.redeemed_at == used.placed_at  # a redemption of the program ...
    assert coupon.redeemed_by_other  # ... flagged, not the recipient's
    assert coupon.redeemed_by_id == used.customer_id != coupon.customer_id


@pytest.mark.django_db
def test_the_recipients_own_use_records_them_as_the_user(store):
    ann = customer(store, "ann")
    coupon = issue_coupon(program=program(store), customer=ann, now=T0)

    record_redemptions(
        store=store, orders=[order(store, "1", at=T0 + DAY, codes=(f" {coupon.code} ",))]
    )

    coupon.refresh_from_db()
    assert (coupon.redeemed_by_id, coupon.redeemed_by_other) == (ann.pk, False)


# Histories of other shapes


@pytest.mark.django_db
def test_an_order_in_another_currency_meets_no_minimum_but_redeems_without_one(store):
    strict = program(store, minimum_order=Decimal("10"))
    loose = save_program(store=store, slug="loose", kind="percent", amount="10")
    ann = customer(store)
    a = issue_coupon(program=strict, customer=ann, now=T0)
    b = issue_coupon(program=loose, customer=ann, now=T0)
    euros = order(store, "1", at=T0 + DAY, codes=(a.code, b.code), total="500.00")
    Order.objects.filter(pk=euros.pk).update(currency="EUR" if store.currency != "EUR" else "GBP")

    record_redemptions(store=store, orders=Order.objects.filter(pk=euros.pk))

    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.redeemed_at, b.redeemed_at) == (None, euros.placed_at)


@pytest.mark.django_db
def test_an_order_with_50_codes_redeems_each_of_the_customers_coupons_it_names(store):
    offer = program(store)
    ann = customer(store)
    coupons = [issue_coupon(program=offer, customer=ann, now=T0) for _ in range(25)]
    junk = [f"JUNK{i}" for i in range(25)]
    placed = order(store, "1", at=T0 + DAY, codes=tuple(c.code for c in coupons) + tuple(junk))

    redeemed = record_redemptions(store=store, orders=[placed])

    assert len(placed.discount_codes) == 50
    assert {c.pk for c in redeemed} == {c.pk for c in coupons}


@pytest.mark.django_db
def test_a_tiny_store_with_one_customer_and_one_order_redeems_its_only_coupon(store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    placed = order(store, "1", at=T0, codes=(coupon.code,), total="0.01")

    assert [c.pk for c in record_redemptions(store=store, orders=[placed])] == [coupon.pk]


# Generated histories: whatever the order of arrival, case, currency or status


_SHOPS = itertools.count()
_history = st.fixed_dictionaries(
    {
        "coupons": st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 10)), min_size=1, max_size=5
        ),  # (recipient, issued on day)
        "orders": st.lists(
            st.tuples(
                st.integers(0, 3),  # customer
                st.integers(0, 30),  # placed on day
                st.lists(st.integers(0, 6), max_size=4),  # codes: coupon index or junk
                st.sampled_from(["5.00", "50.00"]),
                st.booleans(),  # in the store's currency
                st.sampled_from(["placed", "cancelled", "refunded"]),
                st.booleans(),  # typed in lower case with spaces
            ),
            max_size=8,
        ),
    }
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=_history)
def test_in_generated_histories_each_coupon_is_redeemed_by_its_first_qualifying_order(history):
    # A store of its own for each example (they share the test's database).
    shop = create_store(
        physical_address="1 Test Lane", name="Gen", slug=f"gen-{next(_SHOPS)}", now=T0
    )
    offer = save_program(store=shop, slug="gen", kind="fixed", amount="5", minimum_order="10")
    coupons = [
        issue_coupon(program=offer, customer=customer(shop, f"c{who}"), now=T0 + day * DAY)
        for who, day in history["coupons"]
    ]
    placed = []
    for n, (who, day, picks, total, home, status, sloppy) in enumerate(history["orders"]):
        codes = tuple(
            (f"  {coupons[i].code.lower()} " if sloppy else coupons[i].code)
            if i < len(coupons)
            else f"JUNK{i}"
            for i in picks
        )
        at = T0 + day * DAY + n * dt.timedelta(minutes=1)
        made = order(
            shop,
            f"o{n}",
            customer=f"c{who}",
            at=at,
            codes=codes,
            total=total,
            cancelled_at=at if status == "cancelled" else None,
            refunded_at=at if status == "refunded" else None,
        )
        if not home:
            Order.objects.filter(pk=made.pk).update(currency="XTS")
        placed.append(Order.objects.get(pk=made.pk))

    for chunk in (placed[: len(placed) // 2], placed[len(placed) // 2 :]):  # two arrivals
        record_redemptions(store=shop, orders=chunk)

    for coupon in coupons:
        coupon.refresh_from_db()
        qualifying = [
            o
            for o in sorted(placed, key=lambda o: (o.placed_at, o.pk))
            if coupon.code in {c.strip().upper() for c in o.discount_codes}
            and o.status == "placed"
            and coupon.issued_at <= o.placed_at <= coupon.expires_at
            and o.currency == shop.currency
            and o.total >= 10
        ]
        first = qualifying[0] if qualifying else None
        assert coupon.redeemed_order_id == (first.pk if first else None)
        assert coupon.redeemed_by_other == bool(first and first.customer_id != coupon.customer_id)


@pytest.mark.django_db
def test_an_order_arriving_late_but_placed_earlier_takes_the_redemption(store):
    coupon = issue_coupon(program=program(store), customer=customer(store), now=T0)
    later = order(store, "2", at=T0 + 3 * DAY, codes=(coupon.code,))
    record_redemptions(store=store, orders=[later])
    earlier = order(store, "1", at=T0 + DAY, codes=(coupon.code,))  # posted late

    assert record_redemptions(store=store, orders=[earlier]) == [coupon]
    coupon.refresh_from_db()
    assert coupon.redeemed_order_id == earlier.pk
    assert record_redemptions(store=store, orders=[later]) == []  # processed again: no change


@pytest.mark.django_db
def test_an_amount_of_hundreds_of_digits_is_refused_not_an_error(store):
    with pytest.raises(InvalidProgram) as refused:
        save_program(store=store, slug="huge", kind="fixed", amount="1.7976931348623155e+308")

    assert "under 100,000,000" in refused.value.errors["amount"]
