"""ui.widgets: user text is escaped for markdown, counts read as English."""

from __future__ import annotations

import pytest

from data.lead_errors import RowProblem
from ui.widgets import count, plain, problems_frame


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("**bold** _it_", "\\*\\*bold\\*\\* \\_it\\_"),
        ("![x](http://e.test/x.png)", "\\!\\[x\\]\\(http\\:\\/\\/e\\.test\\/x\\.png\\)"),
        ("<script>alert(1)</script>", "\\<script\\>alert\\(1\\)\\<\\/script\\>"),
        ("$x$ :smile: &lt;", "\\$x\\$ \\:smile\\: \\&lt\\;"),
        ("two\nlines\tand  spaces", "two lines and spaces"),
    ],
)
def test_plain_escapes_every_markdown_character(value: str, expected: str) -> None:
    assert plain(value) == expected


def test_plain_shortens_long_text() -> None:
    assert plain("a" * 500, max_chars=10) == "a" * 9 + "…"


def test_count_pluralises() -> None:
    assert [count(n, "lead") for n in (0, 1, 2, 12_345)] == ["0 leads", "1 lead", "2 leads", "12,345 leads"]


def test_problems_frame_has_one_row_per_problem() -> None:
    frame = problems_frame([RowProblem(3, None, "MISSING_EMAIL", "No email address.")])
    assert frame.to_dict("records") == [
        {"Row": 3, "Email": "", "Problem": "MISSING_EMAIL", "What to do": "No email address."}
    ]
