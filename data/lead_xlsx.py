"""Read the first sheet of an XLSX workbook as rows of strings, the same shape a CSV gives.

Cells come back as Excel shows them where that matters to leads: whole numbers without ``.0`` (a score of
87, a phone number typed as a number), dates as ISO dates. A workbook is a zip archive, so its unpacked
size is checked before openpyxl reads it: a small upload must not unpack into gigabytes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import openpyxl

from data.lead_errors import ImportRefused

# Every zip archive, and so every XLSX workbook, starts with this local file header signature.
XLSX_MAGIC = b"PK\x03\x04"
# XML compresses about 5-10x; a workbook unpacking to more than this many times the upload limit is
# either a zip bomb or far more data than the upload limit means to allow.
MAX_UNPACK_RATIO = 8


def read_xlsx_rows(data: bytes, filename: str, *, max_bytes: int) -> list[tuple[int, list[str]]]:
    """(sheet row number, cells as strings) for each row of the first sheet."""
    not_xlsx = ImportRefused(
        f"{filename} is a zip archive but not a readable XLSX workbook. "
        "Open it in Excel and save it again as .xlsx, or export it as CSV."
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise not_xlsx from None
    limit = MAX_UNPACK_RATIO * max_bytes
    if unpacked > limit:
        raise ImportRefused(
            f"{filename} unpacks to {unpacked / 2**20:,.0f} MB of data; the limit is "
            f"{limit / 2**20:,.0f} MB. Split the workbook, or save it as CSV."
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged archive; all mean the same to the analyst
        raise not_xlsx from None
    try:
        if not workbook.worksheets:
            raise ImportRefused(f"{filename} has no worksheets. Put the leads on the first sheet.")
        sheet = workbook.worksheets[0]
        # The sheet's declared size can be anything (A1:XFD1048576 makes openpyxl pad every row to 16,384
        # cells and emit a million rows); forget it and read only the cells that are there.
        sheet.reset_dimensions()
        rows = [
            (number, [cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    except ImportRefused:
        raise
    except Exception:  # a damaged sheet inside a valid archive
        raise not_xlsx from None
    finally:
        workbook.close()
    width = max((len(cells) for _number, cells in rows), default=0)
    return [(number, cells + [""] * (width - len(cells))) for number, cells in rows]


def cell_text(value: object) -> str:
    """A cell as the analyst sees it in Excel, as far as leads care."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
