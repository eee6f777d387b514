"""Specification of reading CSV rows: every broken line is a bad line, never the file."""

import codecs
import io

import pytest

from aftersale.integrations.csv_source import CsvFormatError, open_csv, read_rows


def _rows(data: bytes, read: tuple[str, ...] = ("id", "name")) -> list[tuple[int, dict, list]]:
    stream = open_csv(io.BytesIO(data))
    return [(r.line, r.values, r.errors) for r in read_rows(stream, required=["id"], read=read)]


@pytest.mark.parametrize(
    "encoded",
    [
        lambda text: text.encode("utf-8"),
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.encode("utf-16"),
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        lambda text: text.encode("utf-32"),
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16", "utf-16 big-endian", "utf-32"],
)
def test_utf8_with_or_without_bom_and_utf16_or_32_with_bom_are_read_alike(encoded):
    rows = _rows(encoded("Id,Name\r\n1,Crème brûlée\r\n2,Tee 🍵\r\n"))

    assert rows == [
        (2, {"id": "1", "name": "Crème brûlée"}, []),
        (3, {"id": "2", "name": "Tee 🍵"}, []),
    ]


def test_a_line_with_a_byte_that_is_not_utf8_is_a_bad_line_naming_its_column_and_byte():
    rows = _rows("id,name\n1,Mug\n2,Crème\n3,Tea\n".encode("latin-1"))

    assert [(line, errors) for line, _, errors in rows] == [
        (2, []),
        (3, ["name: byte 0xE8 cannot be decoded; save the file as UTF-8"]),
        (4, []),
    ]


def test_an_undecodable_byte_in_a_column_not_read_still_makes_a_bad_line():
    rows = _rows(b"id,name,note\n1,Mug,\xff\n2,Tea,ok\n")

    assert [(line, errors) for line, _, errors in rows] == [
        (2, ["note: byte 0xFF cannot be decoded; save the file as UTF-8"]),
        (3, []),
    ]


def test_a_header_that_is_not_utf8_refuses_the_file():
    with pytest.raises(CsvFormatError, match=r"header.*byte 0xE9 cannot be decoded"):
        _rows("id,catégorie\n1,a\n".encode("latin-1"))


def test_utf16_without_a_byte_order_mark_is_refused_with_what_to_do():
    with pytest.raises(CsvFormatError, match="UTF-16 without a byte-order mark; save it as UTF-8"):
        _rows("id,name\n1,Mug\n".encode("utf-16-le"))


def test_a_cell_over_the_csv_size_limit_is_a_bad_line_and_the_next_lines_are_read():
    rows = _rows(b"id,name\n1,Mug\n2," + b"x" * 200_000 + b"\n3,Tea\n")

    assert [(line, errors) for line, _, errors in rows] == [
        (2, []),
        (3, ["a value is longer than 131072 characters"]),
        (4, []),
    ]


@pytest.mark.parametrize("broken", ['2,"Crème', '"2,Crème', '2,"Crème"x', '2,"Crème""'], ids=repr)
def test_a_quote_that_never_closes_costs_its_own_line_only(broken):
    rows = _rows(f'id,name\n1,Mug\n{broken}\n3,"Tea, green"\n4,Pot\n'.encode())

    assert [line for line, _, errors in rows if errors] == [3]
    assert [(line, values) for line, values, errors in rows if not errors] == [
        (2, {"id": "1", "name": "Mug"}),
        (4, {"id": "3", "name": "Tea, green"}),
        (5, {"id": "4", "name": "Pot"}),
    ]


def test_a_value_spanning_lines_in_a_column_not_read_is_kept_and_numbered_by_its_first_line():
    rows = _rows(b'id,name,body\n1,Mug,"two\nlines"\n2,Tea,\n', read=("id", "name"))

    assert rows == [
        (2, {"id": "1", "name": "Mug", "body": "two\nlines"}, []),
        (4, {"id": "2", "name": "Tea", "body": ""}, []),
    ]


def test_nul_bytes_are_read_as_characters_not_an_error_of_the_file():
    rows = _rows(b"id,name\n1,M\x00ug\n2,Tea\n")

    assert rows == [(2, {"id": "1", "name": "M\x00ug"}, []), (3, {"id": "2", "name": "Tea"}, [])]


def test_more_values_than_columns_is_a_bad_line():
    rows = _rows(b"id,name\n1,Mug,extra\n2,Tea\n")

    assert [(line, errors) for line, _, errors in rows] == [
        (2, ["more values than there are columns"]),
        (3, []),
    ]
