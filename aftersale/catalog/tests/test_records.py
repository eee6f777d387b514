"""Product records: what a feed says about a product, and nothing it does not."""

import dataclasses
from decimal import Decimal

import pytest

from aftersale.catalog.records import ProductRecord


def test_a_record_says_nothing_beyond_its_id_and_name_unless_told():
    record = ProductRecord("mug", "Blue mug")

    assert (record.price, record.stock) == (None, None)  # unknown, not zero
    assert (record.category, record.department, record.brand) == ("", "", "")
    assert (record.image_url, record.url) == ("", "")


def test_a_record_cannot_be_changed_once_made():
    record = ProductRecord("mug", "Blue mug", price=Decimal("12.50"))

    with pytest.raises(dataclasses.FrozenInstanceError):
        record.price = Decimal("1")  # type: ignore[misc]
    assert record == ProductRecord("mug", "Blue mug", price=Decimal("12.50"))
