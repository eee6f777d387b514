"""A program's codes as CSV (for stores that import them into their platform), from the
service and from `aftersale coupons export`, and the other `coupons` commands."""

import csv
import datetime as dt
import io
import tracemalloc
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aftersale.coupons.export import HEADER, export_lines
from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.coupons.services import (
    BULK_BATCH,
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.coupons.tests.test_services import customer, order
from aftersale.stores.models import Store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _program(store: Store) -> CouponProgram:
    return save_program(store=store, slug="thanks", kind="percent", amount=Decimal("15"))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def history(store: Store) -> dict[str, Coupon]:
    """Four codes: one redeemed by its recipient, one used by someone else, one issued
    and unused, one generated in bulk and not handed out."""
    offer = _program(store)
    ann, bob = customer(store, "ann"), customer(store, "bob")
    mine = issue_coupon(program=offer, customer=ann, now=T0)
    lent = issue_coupon(program=offer, customer=bob, now=T0)
    unused = issue_coupon(program=offer, customer=customer(store, "cy"), now=T0)
    orders = [
        order(store, "1001", customer="ann", at=T0 + DAY, codes=(mine.code,)),
        order(store, "1002", customer="dee", at=T0 + 2 * DAY, codes=(lent.code,)),
    ]
    record_redemptions(store=store, orders=orders)
    generate_codes(program=offer, count=1, now=T0)
    return {
        "mine": mine,
        "lent": lent,
        "unused": unused,
        "pooled": Coupon.objects.get(customer=None),
    }


def test_the_csv_has_a_line_per_code_with_recipient_issue_expiry_redemption_and_flag(
    store, history
):
    rows = _rows("".join(export_lines(program=CouponProgram.objects.get())))

    assert tuple(rows[0]) == HEADER
    by_code = {row["code"]: row for row in rows}
    assert by_code[history["mine"].code] == {
        "code": history["mine"].code,
        "customer_email": "ann@example.com",
        "issued_at": "2024-03-04T09:00:00+00:00",
        "expires_at": "2024-03-18T09:00:00+00:00",
        "redeemed_at": "2024-03-05T09:00:00+00:00",
        "order_id": "1001",
        "flagged": "",
    }
    lent = by_code[history["lent"].code]
    assert (lent["customer_email"], lent["order_id"], lent["flagged"]) == (
        "bob@example.com",
        "1002",
        "yes",
    )
    assert by_code[history["unused"].code]["redeemed_at"] == ""
    pooled = by_code[history["pooled"].code]
    assert [pooled[k] for k in HEADER[1:]] == [""] * 6


def test_the_csv_lists_codes_oldest_first_and_nothing_of_another_program(store, history):
    other = save_program(store=store, slug="other", kind="fixed", amount="5")
    issue_coupon(program=other, customer=customer(store, "ann"), now=T0)

    codes = [row["code"] for row in _rows("".join(export_lines(program=_program(store))))]

    assert codes == [c.code for c in history.values()]


def test_100000_codes_are_generated_and_exported_a_batch_at_a_time(store, monkeypatch):
    offer = _program(store)
    batches: list[int] = []
    bulk_create = Coupon.objects.bulk_create

    def counted(objs, **kwargs):
        rows = list(objs)
        batches.append(len(rows))
        return bulk_create(rows, **kwargs)

    monkeypatch.setattr(Coupon.objects, "bulk_create", counted)
    assert generate_codes(program=offer, count=100_000, now=T0) == 100_000
    assert max(batches) <= BULK_BATCH and sum(batches) == 100_000
    assert Coupon.objects.filter(program=offer).values("code").distinct().count() == 100_000

    tracemalloc.start()
    try:
        lines = sum(1 for _ in export_lines(program=offer))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == 100_001
    assert peak < 8 * 2**20  # a chunk of rows, not 100,000 of them (some 40 MB)


def _coupons(*args: str) -> str:
    out = StringIO()
    call_command("coupons", *args, stdout=out)
    return out.getvalue()


def test_the_export_command_writes_the_same_csv_to_a_file_or_standard_output(
    store, history, tmp_path: Path
):
    path = tmp_path / "codes.csv"
    _coupons("export", "thanks", "--file", str(path))

    expected = "".join(export_lines(program=CouponProgram.objects.get()))
    assert path.read_text(encoding="utf-8") == expected == _coupons("export", "thanks")


def test_the_commands_name_the_programs_when_one_does_not_exist(store, history):
    with pytest.raises(CommandError, match=r"no coupon program 'nope'.*programs: thanks"):
        _coupons("export", "nope")


def test_the_generate_command_adds_codes_and_refuses_a_count_out_of_range(store):
    _program(store)

    assert "Added 25 codes to thanks" in _coupons("generate", "thanks", "--count", "25")
    assert Coupon.objects.filter(customer=None).count() == 25
    with pytest.raises(CommandError, match="1 to 100,000"):
        _coupons("generate", "thanks", "--count", "0")


def test_the_list_command_shows_terms_rate_with_its_count_and_flagged_uses(store, history):
    listing = _coupons("list")

    assert "15 % off, valid 14 days" in listing
    assert "redeemed 2 of 3 (66.7 %)" in listing
    assert "flagged 1" in listing and "1 code not handed out" in listing
