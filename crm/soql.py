"""Build SOQL safely: every literal escaped, long ``IN`` lists chunked to stay inside URI limits.

Escaping follows the SOQL reference (quoted string escape sequences): a backslash and a single quote
are backslash-escaped, and control characters use their ``\\n``-style escapes, because any other
backslash sequence is a MALFORMED_QUERY. Emails such as ``o'brien@x.com`` are legal and common.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r"[\\'\"\n\r\t\b\f]")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")

# A URI stays far below Salesforce's 16,384-byte request-line-plus-headers limit; 200 emails of up to
# 80 characters, percent-encoded, fit in about 12 KB at worst and usually in 6 KB.
MAX_IN_VALUES = 200
MAX_IN_CHARS = 9000


def quote(value: str) -> str:
    """``value`` as a SOQL string literal, quotes included."""
    return "'" + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], value) + "'"


def identifier(name: str) -> str:
    """A field or object name, checked: names cannot be escaped, only refused."""
    if not _IDENTIFIER.fullmatch(name):  # not match(): "$" would let a trailing newline through
        raise ValueError(f"{name!r} is not a valid Salesforce field or object name")
    return name


def in_chunks(
    values: Sequence[str], max_values: int = MAX_IN_VALUES, max_chars: int = MAX_IN_CHARS
) -> Iterator[str]:
    """``IN (…)`` lists of quoted values, each within both limits."""
    chunk: list[str] = []
    size = 1  # len("(" + ",".join(chunk) + ")"): 2 parentheses + the literals + one comma fewer than them
    for value in values:
        literal = quote(value)
        if chunk and (len(chunk) >= max_values or size + len(literal) + 1 > max_chars):
            yield "(" + ",".join(chunk) + ")"
            chunk, size = [], 1
        chunk.append(literal)
        size += len(literal) + 1
    if chunk:
        yield "(" + ",".join(chunk) + ")"


def select_where_in(
    object_name: str, fields: Sequence[str], key_field: str, values: Sequence[str], *, extra: str = ""
) -> Iterator[str]:
    """One ``SELECT … WHERE key IN (…)`` statement per chunk of ``values``.

    ``extra`` is a fixed condition of the caller's own (never user input), ANDed onto each statement.
    """
    columns = ", ".join(identifier(f) for f in dict.fromkeys(["Id", *fields]))
    # Reviewed for S608: every name passed identifier(), every literal passed quote().
    head = f"SELECT {columns} FROM {identifier(object_name)} WHERE {identifier(key_field)} IN "  # noqa: S608  # nosec B608 - names pass identifier(), literals pass quote()
    for values_list in in_chunks(values):
        yield head + values_list + (f" AND {extra}" if extra else "")
