"""Writing the catalog: upserts from the store's feeds, products an order brings along."""

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord, VariantRecord
from aftersale.catalog.selectors import products_awaiting_catalog, variant_url
from aftersale.catalog.services import ensure_products, product_ids, upsert_products
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
MUG = ProductRecord(
    "mug",
    "Blue mug",
    category="Kitchen",
    department="Home",
    brand="Potter",
    price=Decimal("12.50"),
    stock=7,
    image_url="https://shop.example/mug.jpg",
    url="https://shop.example/mug",
)
FIELDS = ["name", "category", "department", "brand", "price", "stock", "image_url", "url"]
MUG_AS_STORED = {field: getattr(MUG, field) for field in FIELDS}


def stored(store: Store, external_id: str) -> dict[str, object]:
    return Product.objects.filter(store=store, external_id=external_id).values(*FIELDS).get()


@pytest.fixture
def other_store(db: None) -> Store:
    return create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=T0,
    )


@pytest.mark.django_db
def test_upserting_new_products_stores_every_field_and_returns_their_ids(store):
    ids = upsert_products(store=store, records=[MUG, ProductRecord("tea", "Green tea")])

    assert ids == dict(Product.objects.values_list("external_id", "pk"))
    assert stored(store, "mug") == {
        "name": "Blue mug",
        "category": "Kitchen",
        "department": "Home",
        "brand": "Potter",
        "price": Decimal("12.50"),
        "stock": 7,
        "image_url": "https://shop.example/mug.jpg",
        "url": "https://shop.example/mug",
    }


@pytest.mark.django_db
def test_upserting_the_same_records_again_changes_nothing(store):
    first = upsert_products(store=store, records=[MUG])
    before = stored(store, "mug")

    assert upsert_products(store=store, records=[MUG]) == first
    assert Product.objects.count() == 1
    assert stored(store, "mug") == before


@pytest.mark.django_db
def test_an_upsert_updates_the_price_stock_and_text_of_a_known_product(store):
    (mug_id,) = upsert_products(store=store, records=[MUG]).values()
    newer = ProductRecord("mug", "Big blue mug", category="Mugs", price=Decimal("9.90"), stock=3)

    assert upsert_products(store=store, records=[newer]) == {"mug": mug_id}
    product = Product.objects.get()
    assert (product.name, product.category, product.price, product.stock) == (
        "Big blue mug",
        "Mugs",
        Decimal("9.90"),
        3,
    )


@pytest.mark.django_db
def test_a_field_a_record_leaves_empty_keeps_the_stored_value(store):
    upsert_products(store=store, records=[MUG])

    upsert_products(store=store, records=[ProductRecord("mug", "")])

    assert stored(store, "mug") == MUG_AS_STORED


@pytest.mark.django_db
def test_zero_stock_and_a_zero_price_are_values_not_blanks(store):
    upsert_products(store=store, records=[MUG])

    upsert_products(store=store, records=[ProductRecord("mug", "", price=Decimal("0"), stock=0)])

    product = Product.objects.get()
    assert (product.price, product.stock, product.in_stock) == (Decimal("0"), 0, False)


@pytest.mark.django_db
def test_a_new_product_without_name_price_or_stock_gets_a_placeholder_name_no_price_untracked_stock(
    store,
):
    upsert_products(store=store, records=[ProductRecord("p9", "")])

    product = Product.objects.get()
    assert (product.name, product.price, product.stock, product.in_stock) == (
        "Product p9",
        Decimal("0"),
        None,
        True,
    )


@pytest.mark.django_db
def test_of_two_records_for_one_product_in_one_upsert_the_last_wins(store):
    upsert_products(
        store=store,
        records=[ProductRecord("mug", "Old", price=Decimal("1")), ProductRecord("mug", "New")],
    )

    product = Product.objects.get()
    assert (product.name, product.price) == ("New", Decimal("0"))


@pytest.mark.django_db
def test_stores_keep_their_own_products_under_the_same_external_id(store, other_store):
    mine = upsert_products(store=store, records=[MUG])
    theirs = upsert_products(
        store=other_store, records=[ProductRecord("mug", "Red mug", price=Decimal("4"))]
    )

    assert mine["mug"] != theirs["mug"]
    assert stored(store, "mug") == MUG_AS_STORED
    assert stored(other_store, "mug")["name"] == "Red mug"
    assert product_ids(store=other_store, external_ids=["mug"]) == theirs


@pytest.mark.django_db
def test_ensuring_products_creates_the_unknown_ones_and_leaves_known_ones_untouched(store):
    (mug_id,) = upsert_products(store=store, records=[MUG]).values()
    from_an_order = [ProductRecord("mug", "Mug", price=Decimal("1")), ProductRecord("tea", "Tea")]

    ids = ensure_products(store=store, records=from_an_order)

    assert ids == {"mug": mug_id, "tea": Product.objects.get(external_id="tea").pk}
    assert stored(store, "mug") == MUG_AS_STORED


@pytest.mark.django_db
def test_ensuring_known_products_again_writes_nothing(store, django_assert_num_queries):
    upsert_products(store=store, records=[MUG])

    with django_assert_num_queries(1):
        ids = ensure_products(store=store, records=[MUG])

    assert list(ids) == ["mug"]


@pytest.mark.django_db
def test_product_ids_leave_out_unknown_ids_and_other_stores_products(store, other_store):
    upsert_products(store=store, records=[MUG])
    upsert_products(store=other_store, records=[ProductRecord("tea", "Tea")])

    assert product_ids(store=store, external_ids=["mug", "tea", "nope"]) == {
        "mug": Product.objects.get(store=store).pk
    }


@pytest.mark.django_db
def test_a_product_an_order_brings_along_awaits_the_catalog_until_the_catalog_names_it(store):
    upsert_products(store=store, records=[MUG])
    ensure_products(store=store, records=[ProductRecord("mug", "Mug"), ProductRecord("tea", "Tea")])

    assert list(products_awaiting_catalog(store=store).values_list("external_id", flat=True)) == [
        "tea"  # the mug was the catalog's already
    ]

    upsert_products(store=store, records=[ProductRecord("tea", "")])  # names no new field

    assert not products_awaiting_catalog(store=store).exists()
    assert Product.objects.get(external_id="tea").name == "Tea"


@pytest.mark.django_db
def test_variants_and_tags_are_kept_as_told_and_a_record_that_does_not_tell_keeps_them(store):
    sizes = (
        VariantRecord("v-small", sku="MUG-S", price=Decimal("10.00"), stock=2, title="Small"),
        VariantRecord("v-large", sku="MUG-L", price=Decimal("14.00"), stock=0, title="Large"),
    )
    upsert_products(store=store, records=[replace(MUG, variants=sizes, tags=("gift",))])

    upsert_products(store=store, records=[ProductRecord("mug", "Blue mug")])  # a CSV row
    mug = Product.objects.get(store=store, external_id="mug")
    assert [v["id"] for v in mug.variants] == ["v-small", "v-large"]
    assert mug.variants[0] == {
        "id": "v-small",
        "sku": "MUG-S",
        "price": "10.00",
        "stock": 2,
        "title": "Small",
    }
    assert mug.tags == ["gift"]

    upsert_products(store=store, records=[replace(MUG, variants=sizes[1:], tags=())])
    mug.refresh_from_db()
    assert ([v["id"] for v in mug.variants], mug.tags) == (["v-large"], [])


@pytest.mark.django_db
def test_the_link_to_a_variant_is_the_product_page_showing_it(store):
    upsert_products(
        store=store,
        records=[
            replace(MUG, variants=(VariantRecord("4501"),)),
            replace(
                MUG,
                external_id="cup",
                url="https://shop.example/cup?ref=mail",
                variants=(VariantRecord("4503"),),
            ),
            replace(MUG, external_id="plate", url="", variants=(VariantRecord("4502"),)),
        ],
    )
    mug, cup, plate = (
        Product.objects.get(store=store, external_id=eid) for eid in ("mug", "cup", "plate")
    )

    assert variant_url(product=mug, variant_external_id="4501") == (
        "https://shop.example/mug?variant=4501"
    )
    assert variant_url(product=mug, variant_external_id="9999") == mug.url  # not its variant
    assert variant_url(product=mug, variant_external_id="") == mug.url
    assert variant_url(product=cup, variant_external_id="4503") == (
        "https://shop.example/cup?ref=mail&variant=4503"
    )
    assert variant_url(product=plate, variant_external_id="4502") == ""  # no page known
