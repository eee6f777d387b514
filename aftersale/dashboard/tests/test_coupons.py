"""The Coupons pages through Django's test client: the store's programs with issued,
redeemed (rate and count) and flagged uses, one program's codes a page at a time, its
terms and the bulk form (bad input named next to the field, nothing typed lost), and the
streamed CSV, only for logins that may see the store."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.coupons.export import HEADER
from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.coupons.services import (
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.coupons.tests.test_services import customer, order
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, upsell_definition
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


@pytest.fixture
def thanks(store: Store) -> CouponProgram:
    """A program of 4 codes issued, 2 redeemed (1 by someone else), 1 not handed out."""
    offer = save_program(
        store=store, slug="thanks", kind="percent", amount=Decimal("15"), code_prefix="THX"
    )
    codes = [issue_coupon(program=offer, customer=customer(store, n), now=T0) for n in "abcd"]
    record_redemptions(
        store=store,
        orders=[
            order(store, "1001", customer="a", at=T0 + DAY, codes=(codes[0].code,)),
            order(store, "1002", customer="zed", at=T0 + DAY, codes=(codes[1].code,)),
        ],
    )
    generate_codes(program=offer, count=1, now=T0)
    return offer


def _url(name: str, store: Store, program: str | None = None) -> str:
    args = [store.slug] if program is None else [store.slug, program]
    return reverse(f"dashboard:{name}", args=args)


def test_the_coupons_page_lists_programs_with_terms_rate_count_and_flagged_uses(
    signed_in, store, thanks
):
    page = signed_in.get(_url("coupons", store)).content.decode()

    assert "15 % off, valid 14 days" in page
    assert "2 of 4 (50.0 %)" in page
    assert "Used by someone else</dt><dd>1" in page
    assert 'aria-current="page">Coupons</a>' in page


def test_the_coupons_link_follows_templates_in_the_nav(signed_in, store):
    page = signed_in.get(_url("coupons", store)).content.decode()

    assert (
        page.index(">Templates</a>")
        < page.index(">Coupons</a>")
        < page.index(">Recommendations</a>")
    )


def test_a_store_without_programs_says_so(signed_in, store):
    assert "No coupon program yet" in signed_in.get(_url("coupons", store)).content.decode()


def test_a_programs_page_shows_its_latest_codes_flagging_use_by_someone_else(
    signed_in, store, thanks
):
    page = signed_in.get(_url("coupon-program", store, "thanks")).content.decode()

    lent = Coupon.objects.get(redeemed_by_other=True)
    assert page.index(Coupon.objects.get(customer=None).code) < page.index(lent.code)
    assert "used by someone else</span> zed@example.com" in page
    assert "order 1002" in page
    assert _url("coupon-codes-csv", store, "thanks") in page


def test_codes_come_a_page_of_50_at_a_time(signed_in, store, thanks):
    generate_codes(program=thanks, count=60, now=T0)

    first = signed_in.get(_url("coupon-program", store, "thanks")).content.decode()
    second = signed_in.get(_url("coupon-program", store, "thanks") + "?page=2").content.decode()

    assert first.count('data-code="') == 50
    assert second.count('data-code="') == 15
    assert "Page 2 of 2 · 65 codes" in second


def test_the_bulk_form_adds_codes_handed_out_first(signed_in, store, thanks):
    answer = signed_in.post(
        _url("coupon-program", store, "thanks"), {"action": "generate", "count": "250"}
    )

    assert answer.status_code == 302
    assert Coupon.objects.filter(program=thanks, customer=None).count() == 251
    assert "Added 250 codes" in signed_in.get(answer["Location"]).content.decode()


@pytest.mark.parametrize("typed", ["0", "100001", "lots", ""])
def test_the_bulk_form_refuses_a_count_outside_1_to_100000_next_to_the_field(
    signed_in, store, thanks, typed
):
    answer = signed_in.post(
        _url("coupon-program", store, "thanks"), {"action": "generate", "count": typed}
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    assert 'id="bulk-count-error">Enter a whole number of codes from 1 to 100,000.' in page
    assert f'name="count" type="text" inputmode="numeric" value="{typed}"' in page
    assert Coupon.objects.filter(customer=None).count() == 1


def test_the_terms_form_saves_new_terms(signed_in, store, thanks):
    answer = signed_in.post(
        _url("coupon-program", store, "thanks"),
        {
            "action": "terms",
            "kind": "fixed",
            "amount": "5",
            "minimum_order": "25",
            "valid_days": "7",
            "code_prefix": "THX",
        },
    )

    assert answer.status_code == 302
    thanks.refresh_from_db()
    assert (thanks.kind, thanks.amount, thanks.minimum_order, thanks.valid_days) == (
        "fixed",
        Decimal("5"),
        Decimal("25"),
        7,
    )


def test_the_terms_form_names_each_bad_field_and_keeps_what_was_typed(signed_in, store, thanks):
    answer = signed_in.post(
        _url("coupon-program", store, "thanks"),
        {
            "action": "terms",
            "kind": "percent",
            "amount": "120",
            "minimum_order": "2.555",
            "valid_days": "400",
            "code_prefix": "thx!",
        },
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    for field in ("amount", "minimum", "days", "prefix"):
        assert f'id="term-{field}-error"' in page
    assert 'value="120"' in page and 'value="2.555"' in page and 'value="thx!"' in page
    thanks.refresh_from_db()
    assert thanks.amount == Decimal("15")


def test_the_csv_export_streams_every_code(signed_in, store, thanks):
    answer = signed_in.get(_url("coupon-codes-csv", store, "thanks"))

    assert answer.streaming
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="coupons-thanks.csv"' in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert tuple(rows[0]) == HEADER and len(rows) == 6
    assert [row[6] for row in rows[1:] if row[6]] == ["yes"]


def test_another_stores_program_and_an_unknown_one_are_404(signed_in, store, thanks):
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="O", slug="other", now=T0
    )
    save_program(store=other, slug="theirs", kind="percent", amount="10")

    assert signed_in.get(_url("coupons", other)).status_code == 404
    assert signed_in.get(_url("coupon-program", other, "theirs")).status_code == 404
    assert signed_in.get(_url("coupon-codes-csv", other, "theirs")).status_code == 404
    assert signed_in.get(_url("coupon-program", store, "nope")).status_code == 404


def test_the_pages_need_a_login(client, store, thanks):
    assert client.get(_url("coupons", store)).status_code == 302
    assert client.get(_url("coupon-codes-csv", store, "thanks")).status_code == 302


def test_a_program_links_to_the_flow_that_hands_it_out(signed_in, store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)

    page = signed_in.get(_url("coupons", store)).content.decode()

    assert "Handed out by the flow" in page
    assert reverse("dashboard:flow-edit", args=[store.slug, "upsell"]) in page
