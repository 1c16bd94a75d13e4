"""The two ways an import says no: a whole file or import refused, or one row it cannot take.

Both carry sentences for the analyst (what is wrong, and what to do), because the Campaigns page and the
CLI show them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Row problem codes, in the order a row is checked: a row reports its first code, and the messages of all.
MISSING_EMAIL = "MISSING_EMAIL"
INVALID_EMAIL = "INVALID_EMAIL"
VALUE_TOO_LONG = "VALUE_TOO_LONG"
INVALID_SCORE = "INVALID_SCORE"
SCORE_OUT_OF_RANGE = "SCORE_OUT_OF_RANGE"
UNKNOWN_TIER = "UNKNOWN_TIER"
CHECK_ORDER = (MISSING_EMAIL, INVALID_EMAIL, VALUE_TOO_LONG, INVALID_SCORE, SCORE_OUT_OF_RANGE, UNKNOWN_TIER)
# An earlier row whose email a later row repeats; the later row is the one imported.
MERGED = "MERGED"
# Saving edits: a lead id that is not in the campaign, an email another lead already has, a bad column.
UNKNOWN_LEAD = "UNKNOWN_LEAD"
DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
UNKNOWN_FIELD = "UNKNOWN_FIELD"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that was not imported as it stands.

    ``row`` is the data row number a human finds in the file: 1 is the first row under the header (the
    second line of a CSV, row 2 in Excel), and blank rows count. For saved edits it is the lead's row.
    """

    row: int
    email: str | None
    code: str
    message: str


class ImportRefused(Exception):
    """A file or import the analyst must fix first; ``message`` says what is wrong and what to do.

    ``problems`` lists the rows behind the refusal when there are any (e.g. no row could be imported).
    """

    def __init__(self, message: str, *, problems: Sequence[RowProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
