import numpy as np
import pytest

from aftersale.recommendations.evaluation.data import (
    build_history,
    load_csv,
    parse_columns,
    subsample,
    temporal_split,
)
from aftersale.recommendations.tests.evaluation_fixtures import CUT, orders_from

HISTORY = [
    (1, "2024-01-05", [10, 11]),
    (1, "2024-02-10", [11, 12]),
    (2, "2024-02-01", [10]),
    (1, "2024-03-05", [12, 13, 99]),  # 99 is first sold after the cut
    (3, "2024-03-06", [10]),  # customer 3 has no history
    (2, "2024-04-01", [11]),
]


def _split():
    return temporal_split(orders=orders_from(HISTORY), cut=CUT)


def test_history_holds_only_orders_placed_before_the_cut():
    history = _split().history
    assert history.customers.tolist() == [1, 2]
    assert history.products.tolist() == [10, 11, 12]
    assert history.counts.toarray().tolist() == [[1, 2, 1], [1, 0, 0]]
    assert history.counts.sum() == 5  # the five pre-cut (basket, product) pairs
    assert (history.age_days > 0).all()


def test_last_basket_is_the_customers_latest_order_before_the_cut():
    assert _split().history.last_basket.toarray().tolist() == [[0, 1, 1], [1, 0, 0]]


def test_truth_covers_customers_with_orders_on_both_sides_and_counts_unseen_products():
    truth = _split().truth
    assert truth.users.tolist() == [0, 1]
    assert truth.bought.toarray().tolist() == [[0, 0, 1], [0, 1, 0]]
    # Product 13 and 99 were never sold before the cut: relevant, not recommendable.
    assert truth.unseen.tolist() == [2, 0]


def test_validation_window_ends_where_the_test_begins():
    split = temporal_split(orders=orders_from(HISTORY), cut=np.datetime64("2024-02-05"), end=CUT)
    assert split.history.counts.sum() == 3
    assert split.truth.bought.toarray().tolist() == [[0, 1]]  # customer 1 in Feb
    assert split.truth.unseen.tolist() == [1]  # product 12, first sold in Feb
    assert split.truth.users.tolist() == [0]


def test_a_history_refuses_orders_after_its_cut():
    with pytest.raises(ValueError, match="before the cut"):
        build_history(orders=orders_from(HISTORY), cut=CUT)


def test_column_mapping_names_every_required_role():
    assert parse_columns(spec="customer=c,order=o,product=p,time=t") == {
        "customer": "c",
        "order": "o",
        "product": "p",
        "time": "t",
    }
    with pytest.raises(ValueError, match="time"):
        parse_columns(spec="customer=c,order=o,product=p")
    with pytest.raises(ValueError, match="bad column mapping"):
        parse_columns(spec="colour=c")


def test_a_csv_export_loads_with_string_ids(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "who,num,sku,at,amount\n"
        "ann,A1,tea,2024-01-01T10:00:00Z,3.5\n"
        "ann,A1,cup,2024-01-01T10:00:00Z,2\n"
        "bob,B1,tea,2024-02-01T10:00:00Z,3.5\n"
    )
    columns = parse_columns(spec="customer=who,order=num,product=sku,time=at,price=amount")
    orders = load_csv(path=path, columns=columns)
    assert orders.customer.tolist() == [0, 0, 1]
    assert orders.product.tolist() == [0, 1, 0]
    assert orders.price.tolist() == [3.5, 2.0, 3.5]
    assert orders.time[2] == np.datetime64("2024-02-01T10:00:00")


def test_subsample_keeps_whole_customers():
    orders = orders_from(HISTORY)
    sample = subsample(orders=orders, customers=2, seed=1)
    kept = set(sample.customer.tolist())
    assert len(kept) == 2
    assert len(sample) == int(np.isin(orders.customer, list(kept)).sum())
