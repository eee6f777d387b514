"""The scratch file that puts a CSV file's rows back together by order."""

from aftersale.integrations.csv_staging import RowStage


def test_rows_come_back_grouped_by_key_in_line_order_with_their_values_and_errors():
    columns = ("order_id", "email", "note")
    rows = [
        ("b", 2, {"order_id": "b", "email": "x@example.com", "note": ""}, []),
        ("a", 5, {"order_id": "a", "email": "y@example.com", "note": "late"}, []),
        # A value holding the separator the plain rows are joined with.
        ("a", 3, {"order_id": "a", "email": "z@example.com", "note": "one\x1ftwo"}, []),
        # Fewer values than columns, values in another order, a row with errors.
        ("b", 4, {"order_id": "b", "email": "w@example.com"}, []),
        ("a", 7, {"email": "v@example.com", "order_id": "a", "note": "n"}, []),
        ("a", 6, {"order_id": "a", "email": "", "note": ""}, ["a quote that is never closed"]),
    ]
    with RowStage(columns) as stage:
        for key, line, values, errors in rows:
            stage.add_values(key, line, values, errors)
        back = list(stage.grouped())
    expected = sorted((key, line, (values, errors)) for key, line, values, errors in rows)
    assert [(k, n) for k, n, _ in back] == [(k, n) for k, n, _ in expected]
    assert back == expected
    assert [list(values) for _, _, (values, _) in back] == [
        list(values) for _, _, (values, _) in expected
    ]
