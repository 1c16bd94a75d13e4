"""Small widgets and helpers the pages share, so user data is shown the same (safe) way everywhere.

Lead values, file headers, campaign and user names come from uploads and other people: they are shown in
``st.dataframe`` (which renders text, never HTML) or escaped with :func:`plain` before they go into any
markdown (``st.success``, ``st.caption``, widget labels), so ``<script>``, ``![img](…)`` or ``**`` in a
cell stays visible text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import streamlit as st

from data.lead_errors import RowProblem

# CommonMark lets a backslash escape every ASCII punctuation character; escaping them all is simpler and
# safer than guessing which ones a given renderer treats specially (Streamlit adds $…$ math and :emoji:).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Longest user text put into a message; the full value is in the tables.
PLAIN_MAX_CHARS = 200

PROBLEM_COLUMNS = {"row": "Row", "email": "Email", "code": "Problem", "message": "What to do"}


def plain(value: object, *, max_chars: int = PLAIN_MAX_CHARS) -> str:
    """``value`` as literal text inside markdown: punctuation escaped, line breaks flattened."""
    text = " ".join(str(value).split())
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return _PUNCTUATION.sub(r"\\\1", text)


def count(number: int, noun: str) -> str:
    """``1 lead``, ``2 leads``, ``1,000 leads``: English plurals of the nouns the pages count."""
    return f"{number:,} {noun if number == 1 else noun + 's'}"


def when(value: datetime | None) -> str:
    """A timestamp for tables: minutes are enough, UTC says which clock."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def problems_frame(problems: Sequence[RowProblem]) -> pd.DataFrame:
    """Row problems as a table: row, email, code and the message telling the analyst what to do."""
    return pd.DataFrame(
        {
            "row": [problem.row for problem in problems],
            "email": [problem.email or "" for problem in problems],
            "code": [problem.code for problem in problems],
            "message": [problem.message for problem in problems],
        },
        columns=list(PROBLEM_COLUMNS),
    ).rename(columns=PROBLEM_COLUMNS)


def problems_table(problems: Sequence[RowProblem], *, key: str) -> None:
    """Every problem row, scrollable (a file can have thousands); nothing when there are none."""
    if not problems:
        return
    st.dataframe(
        problems_frame(problems),
        key=key,
        hide_index=True,
        column_config={"Row": st.column_config.NumberColumn(format="%d", width="small")},
    )
