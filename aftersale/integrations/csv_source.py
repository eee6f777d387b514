"""Reading the rows of an uploaded CSV file, whatever is wrong with its bytes.

Every problem a line can have before its values are even looked at (a byte that is not
UTF-8, a cell over the csv module's size limit, a quote that never closes, more values
than columns) makes that line a bad line with its number; the lines around it are read as
usual. Only a file whose header cannot be read is refused whole (CsvFormatError).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

_UNDECODABLE = "aftersale.undecodable"
# Each byte the codec cannot decode becomes U+DC00 + byte: a lone surrogate, which no
# successful decoding produces, so the row it lands in can name the byte and be refused.
_BYTE_MARKS = range(0xDC00, 0xDD00)
_SURROGATES = range(0xD800, 0xE000)
# Longest first: the UTF-32 little-endian mark begins with the UTF-16 one.
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    marks = "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end])
    return marks, error.end


codecs.register_error(_UNDECODABLE, _mark_undecodable)


class CsvFormatError(ValueError):
    """The file cannot be imported at all (e.g. a required column is missing)."""


@dataclass
class CsvRow:
    """One record of the file: `line` is the number of its first physical line, `values`
    maps the header's (lower-cased) column names to the cells, `errors` says why the line
    cannot be imported as it stands."""

    line: int
    values: dict[str, str]
    errors: list[str] = field(default_factory=list)


def open_csv(raw: BinaryIO) -> TextIO:
    """The text of a seekable binary CSV file: UTF-8, or UTF-16/UTF-32 when the file starts
    with their byte-order mark (a UTF-8 one is skipped too). Bytes that do not decode are
    kept as marks that `read_rows` reports, with their line, instead of failing the read."""
    head = raw.read(4)
    encoding, skip = next(
        ((name, len(bom)) for bom, name in _BOMS if head.startswith(bom)), ("utf-8", 0)
    )
    raw.seek(skip)
    return io.TextIOWrapper(raw, encoding=encoding, errors=_UNDECODABLE, newline="")  # type: ignore[type-var]


def read_rows(
    stream: TextIO,
    *,
    required: list[str],
    read: Collection[str],
    rename: Callable[[list[str]], list[str]] | None = None,
) -> Iterator[CsvRow]:
    """The rows of `stream` after its header, blank lines left out. The header's
    (lower-cased) column names pass through `rename` when given (an export's names to
    Aftersale's; it may raise CsvFormatError). Raises CsvFormatError when the header cannot
    be read or lacks a `required` column (listing the file's columns). A row's errors name every
    problem found before its values are read, and a line break inside one of the columns
    Aftersale `read`s: that is a quote missing its closing quote far more often than a
    value meant to span lines, so the lines after the row's first are read again as rows
    of their own, and one stray quote costs one line, not the rest of the file."""
    lines = _Lines(stream)
    records = _records(lines)
    header = next(records, None)
    if header is None:
        raise CsvFormatError("the file is empty")
    columns = [name.strip().lower() for name in header.cells]
    errors = header.errors or _undecodable(columns, header.cells)
    if errors:
        raise CsvFormatError(f"the header (line 1) cannot be read: {'; '.join(errors)}")
    _check_header(columns, [])
    if rename is not None:
        original, columns = columns, rename(columns)
    else:
        original = columns
    _check_header(columns, required, original)
    for record in records:
        row = CsvRow(record.line, dict(zip(columns, record.cells, strict=False)), record.errors)
        joined = "".join(record.cells)
        # Plain ASCII holds no undecodable byte, and one line no line break: most rows.
        if not joined.isascii():
            row.errors += _undecodable(columns, record.cells)
        if len(record.cells) > len(columns):
            row.errors.append("more values than there are columns")
        spans = "\r" in joined or "\n" in joined
        broken = spans and [n for n in read if any(c in row.values.get(n, "") for c in "\r\n")]
        if broken:
            row.errors.append(
                f"{broken[0]}: a line break inside the value (a quote without its closing quote?)"
            )
            lines.read_again_after_first()
        yield row


def _check_header(
    columns: list[str], required: list[str], original: list[str] | None = None
) -> None:
    if any("\x00" in name for name in columns):
        raise CsvFormatError(
            "the header holds NUL characters: the file looks like UTF-16 without a "
            "byte-order mark; save it as UTF-8"
        )
    missing = [c for c in required if c not in columns]
    if missing:
        raise CsvFormatError(
            f"missing required column(s): {', '.join(missing)}; "
            f"the file's columns are: {', '.join(original or columns)}"
        )


@dataclass
class _Record:
    line: int
    cells: list[str]
    errors: list[str]


class _Lines:
    """The physical lines of `stream` with their numbers, as the csv reader's source; the
    lines of the last record but its first can be handed back to be read again."""

    def __init__(self, stream: TextIO) -> None:
        self._lines = enumerate(stream, start=1)
        self._again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        # Not a generator: it must give lines again after it once ran dry.
        number, text = self._again.popleft() if self._again else next(self._lines)
        self.taken.append((number, text))
        return text

    def read_again_after_first(self) -> None:
        """Hand the lines of the last record but its first back, to be read as records."""
        self._again.extendleft(reversed(self.taken[1:]))
        self.taken = self.taken[:1]


def _records(lines: _Lines) -> Iterator[_Record]:
    """The csv records of `lines`, each with the number of its first line; one the csv
    module cannot read is a record with an error, and its later lines are read again."""
    # strict: a quote still open at the end of the file, or text after a closing quote,
    # is an error of that record instead of silently merging lines.
    reader = csv.reader(lines, strict=True)
    while True:
        lines.taken = []
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if not lines.taken:
                return
            spans_lines = len(lines.taken) > 1
            yield _Record(lines.taken[0][0], [], [_csv_problem(error, spans_lines)])
            lines.read_again_after_first()
            continue
        if cells:
            yield _Record(lines.taken[0][0], cells, [])


def _csv_problem(error: csv.Error, spans_lines: bool) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        unclosed = " (or a quote is never closed)" if spans_lines else ""
        return f"a value is longer than {csv.field_size_limit()} characters{unclosed}"
    if "unexpected end of data" in text:
        return "a quote that is never closed"
    return f"the line is not valid CSV: {text} (a quote without its closing quote?)"


def _undecodable(columns: list[str], cells: list[str]) -> list[str]:
    """Why the first cell holding an undecodable byte (or a lone surrogate) is no text."""
    for index, cell in enumerate(cells):
        bad = next((c for c in cell if ord(c) in _SURROGATES), None)
        if bad is None:
            continue
        name = columns[index] if index < len(columns) else f"value {index + 1}"
        if ord(bad) in _BYTE_MARKS:
            what = f"byte 0x{ord(bad) - 0xDC00:02X} cannot be decoded"
        else:
            what = f"U+{ord(bad):04X} is not a character"
        return [f"{name}: {what}; save the file as UTF-8"]
    return []
