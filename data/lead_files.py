"""Turn an uploaded file's bytes into a table of strings, or refuse it with one clear sentence.

Analysts upload whatever their tools export: UTF-8 with or without a BOM, Excel's UTF-16 "Unicode text",
Windows-1252 from older CRMs, commas, semicolons (European Excel) or tabs, and XLSX workbooks. Anything
that cannot be read as a whole is refused with :class:`ImportRefused`, whose message is written for the
analyst, never a traceback. Row-level problems are not this module's business: see ``data.lead_import``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from data.lead_columns import detect_columns
from data.lead_errors import ImportRefused
from data.lead_xlsx import XLSX_MAGIC, read_xlsx_rows

# 25 MB: about 200,000 leads of a typical export, and a size Streamlit uploads comfortably.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
# The longest header we accept; it becomes a key of every lead's ``extra`` (the model's String(255)).
MAX_HEADER_CHARS = 255
# Delimiters we sniff, most common first (ties go to the earlier one).
DELIMITERS = (",", ";", "\t", "|")
# Enough of the file to sniff the delimiter from, and to judge whether it is text at all.
SNIFF_CHARS = 64 * 1024
# Python's csv module refuses longer fields; a field this long is almost always a stray quote mark.
CSV_FIELD_LIMIT = csv.field_size_limit()
# Text has (almost) no control characters; a binary file decoded as Windows-1252 has many.
MAX_CONTROL_SHARE = 0.01
# How much of the file decides between UTF-8 with stray Windows-1252 bytes and plain Windows-1252.
SNIFF_BYTES = 1024 * 1024
# Old binary Excel (.xls) and other OLE2 compound files start with this signature.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# How many rows of each column detect_columns may look at.
SAMPLE_ROWS = 200
# How many headers a "no email column" message lists.
MAX_HEADERS_SHOWN = 20

_HIGH_BYTES = bytes(range(0x80, 0x100))
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CP1252 = [bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in range(256)]
_CP1252_FALLBACK = "crm_push_cp1252_fallback"  # a codecs error handler, registered below
_SEP_HINT = re.compile(r"sep=([^\r\n])[ \t]*(?:\r\n|\r|\n)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A readable file: ``frame`` holds one string column per header, indexed by data row number
    (1 = the first row under the header; blank rows are skipped but keep their number)."""

    filename: str
    format: Literal["csv", "xlsx"]
    headers: list[str]
    frame: pd.DataFrame
    encoding: str | None  # None for XLSX
    delimiter: str | None  # None for XLSX
    column_map: dict[str, str | None] = field(default_factory=dict)  # the suggested mapping
    blank_rows: int = 0

    @property
    def total_rows(self) -> int:
        return len(self.frame)


def read_table(data: bytes, filename: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedFile:
    """Read a CSV/TSV or XLSX upload into strings, or raise :class:`ImportRefused`.

    The result carries the suggested ``column_map`` (see ``detect_columns``) for the analyst to confirm.
    The size is checked before anything is decoded, so an oversized file costs nothing to refuse.
    """
    size = len(data)
    if size > max_bytes:
        raise ImportRefused(
            f"{filename} is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}. "
            "Split it into smaller files, or remove columns you do not need."
        )
    if not data.strip():
        raise ImportRefused(f"{filename} is empty. Export the leads again, with a header row and data.")
    if data.startswith(OLE2_MAGIC):
        raise ImportRefused(
            f"{filename} is an old Excel 97-2003 (.xls) workbook, which is not supported. "
            "Save it as .xlsx or CSV and upload that."
        )
    if data.startswith(XLSX_MAGIC):
        rows = read_xlsx_rows(data, filename, max_bytes=max_bytes)
        return _table(filename, "xlsx", rows, encoding=None, delimiter=None)
    text, encoding = decode_text(data, filename)
    hint = _SEP_HINT.match(text)
    if hint:  # Excel's "sep=;" first line names the delimiter and is no part of the table
        delimiter, text = hint.group(1), text[hint.end() :]
    else:
        delimiter = sniff_delimiter(text)
    return _table(filename, "csv", _csv_rows(text, delimiter), encoding=encoding, delimiter=delimiter)


def decode_text(data: bytes, filename: str) -> tuple[str, str]:
    """Decode by BOM, then strict UTF-8, then UTF-16 without a BOM, then UTF-8 with stray Windows-1252
    bytes or plain Windows-1252 (both decoded byte by byte where UTF-8 fails: never an error)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _text_only(data.decode(encoding), filename), encoding
            except UnicodeDecodeError as error:
                raise ImportRefused(
                    f"{filename} starts like a {encoding.upper()} text file but is not valid "
                    f"{encoding.upper()} (at byte {error.start:,}). Save it again as UTF-8 CSV."
                ) from None
    try:
        return _text_only(data.decode("utf-8"), filename), "utf-8"
    except UnicodeDecodeError:
        pass
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return _text_only(utf16[0], filename), utf16[1]
    if _mostly_utf8(data[:SNIFF_BYTES]):
        return _text_only(data.decode("utf-8", errors=_CP1252_FALLBACK), filename), "utf-8+cp1252"
    return _text_only(data.decode("cp1252", errors=_CP1252_FALLBACK), filename), "cp1252"


def _mostly_utf8(sample: bytes) -> bool:
    """Whether the non-ASCII text is mostly UTF-8: a UTF-8 export with a few Windows-1252 bytes pasted in,
    rather than a Windows-1252 file, where "ü" is one byte and UTF-8 sequences almost never occur."""
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    sequences = [len(match) for match in _UTF8_SEQUENCE.findall(sample)]
    return bool(sequences) and len(sequences) >= high - sum(sequences)


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode each byte UTF-8 rejects as Windows-1252 (Latin-1 for the five bytes it leaves undefined)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(_CP1252[byte] for byte in error.object[error.start : error.end]), error.end


codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most columns and the rows into the same number."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS:  # drop the record the cut went through
        sample = sample[: max(sample.rfind("\n"), 0)]
    best, best_key = DELIMITERS[0], (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            counts = [
                len(row) for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if row
            ]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        key = (round(sum(count == counts[0] for count in counts) / len(counts), 1), counts[0])
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _text_only(text: str, filename: str) -> str:
    """Refuse decoded text that is really binary (images, archives, executables, PDFs)."""
    sample = text[:SNIFF_CHARS]
    if "\x00" in text or len(_CONTROL.findall(sample)) > MAX_CONTROL_SHARE * len(sample):
        raise ImportRefused(
            f"{filename} does not look like a CSV or XLSX file: it contains binary data. "
            "Export the leads as CSV (UTF-8) or XLSX and upload that."
        )
    return text


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """Excel's "Unicode text" usually has a BOM; without one, UTF-16 shows as a zero in every other byte."""
    head = data[:4096]
    if len(data) % 2 or len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    for zeros, encoding in ((odd, "utf-16-le"), (even, "utf-16-be")):
        if zeros.count(0) >= 0.9 * len(zeros):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                return None
    return None


def _csv_rows(text: str, delimiter: str) -> Iterable[tuple[int, list[str]]]:
    """Yield (line number, cells) per record; malformed quoting refuses the file with its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        raise ImportRefused(_csv_error_message(str(error), reader.line_num)) from None


def _csv_error_message(error: str, line: int) -> str:
    if "field larger than field limit" in error:
        return (
            f"A cell ending near line {line:,} is longer than {CSV_FIELD_LIMIT:,} characters, usually "
            "because of an unmatched quote mark. Check the quotes in that row."
        )
    return f"Line {line:,} cannot be read ({error}). Check the quote marks in that row."


def _table(
    filename: str,
    file_format: Literal["csv", "xlsx"],
    rows: Iterable[tuple[int, list[str]]],
    *,
    encoding: str | None,
    delimiter: str | None,
) -> ParsedFile:
    """Take the first non-blank record as the header and the rest as data, checking both."""
    records = iter(rows)
    header_cells: list[str] | None = None
    for _line, cells in records:
        if "".join(cells).strip():
            header_cells = cells
            break
    if header_cells is None:
        raise ImportRefused(f"{filename} is empty. Export the leads again, with a header row and data.")
    headers = _headers(header_cells, filename)
    width = len(header_cells)
    data: list[list[str]] = []
    numbers: list[int] = []
    blank = 0
    for number, (line, cells) in enumerate(records, start=1):
        if not "".join(cells).strip():
            blank += 1
            continue
        if len(cells) > width:
            if any(cell.strip() for cell in cells[width:]):
                raise ImportRefused(
                    f"Row {number:,} (line {line:,}) has {len(cells)} cells but the header has {width}. "
                    "Check that row for an unquoted delimiter, or for a missing header."
                )
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        data.append(cells)
        numbers.append(number)
    if not data:
        raise ImportRefused(f"{filename} has a header row but no data rows. Export it again with the leads.")
    headers, frame = _frame(headers, data, numbers)
    samples = {header: frame[header].head(SAMPLE_ROWS).str.strip().tolist() for header in headers}
    column_map = detect_columns(headers, samples=samples)
    if "email" not in column_map.values():
        shown = ", ".join(headers[:MAX_HEADERS_SHOWN]) + (", …" if len(headers) > MAX_HEADERS_SHOWN else "")
        raise ImportRefused(
            f"No email column found in {filename}. Its headers are: {shown}. "
            'Name the column with the email addresses "Email" and upload it again.'
        )
    return ParsedFile(
        filename=filename,
        format=file_format,
        headers=headers,
        frame=frame,
        encoding=encoding,
        delimiter=delimiter,
        column_map=column_map,
        blank_rows=blank,
    )


def _headers(cells: list[str], filename: str) -> list[str]:
    """Trimmed, unique headers; an unnamed column is named after its position."""
    headers: list[str] = []
    for position, cell in enumerate(cells, start=1):
        header = cell.strip().lstrip("\ufeff").strip()
        if len(header) > MAX_HEADER_CHARS:
            raise ImportRefused(
                f"Column {position} of {filename} has a header {len(header):,} characters long; "
                f"headers can have at most {MAX_HEADER_CHARS}. Is the first row really the header?"
            )
        headers.append(header or f"Column {position}")
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for position, header in enumerate(headers, start=1):
        key = header.casefold()
        if key in seen:
            duplicates.append(f'"{header}" (columns {seen[key]} and {position})')
        else:
            seen[key] = position
    if duplicates:
        raise ImportRefused(
            f"{filename} has duplicate column headers: {', '.join(duplicates)}. "
            "Rename or remove the duplicates, so each column has its own header."
        )
    return headers


def _frame(headers: list[str], data: list[list[str]], numbers: list[int]) -> tuple[list[str], pd.DataFrame]:
    """One string column per header, indexed by row number; unnamed columns with nothing in them (the
    empty cells an export leaves at the end of a row) are dropped."""
    index = pd.Index(numbers, name="row")
    columns = zip(*data, strict=True)
    frame = pd.DataFrame(
        {
            header: pd.Series(cells, index=index, dtype="str")
            for header, cells in zip(headers, columns, strict=True)
        },
        index=index,
    )
    unnamed_empty = [
        header
        for position, header in enumerate(headers, start=1)
        if header == f"Column {position}" and not frame[header].str.strip().astype(bool).any()
    ]
    kept = [header for header in headers if header not in unnamed_empty]
    return kept, frame[kept]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"
