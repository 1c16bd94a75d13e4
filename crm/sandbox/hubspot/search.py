"""``POST …/contacts/search``: HubSpot's CRM search over the sandbox's contacts.

Rules (search guide and notes): filter groups are OR-ed, filters inside a group AND-ed; at most 5 groups
and 6 filters per group (18 in all); ``limit`` defaults to 10 and may not exceed 200; ``after`` is an
offset; paging past 10,000 results is a 400. String comparisons ignore case. Unlike the live API, new
records are searchable at once (HubSpot indexes them with a short delay). ``sorts`` accepts both the
client's strings (``"-createdate"``) and ``{"propertyName", "direction"}`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm.sandbox.hubspot.errors import bad_request
from crm.sandbox.hubspot.registry import PropertyRegistry
from crm.sandbox.hubspot.store import Contact

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_RESULTS = 10_000
QUERY_PROPERTIES = ("firstname", "lastname", "email", "phone", "mobilephone", "company")
OPERATORS = frozenset(
    {
        *("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN"),
        *("HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"),
    }
)
TOKEN_SPLIT = re.compile(r"[\s,;:/()\[\]\"']+")


def _sortable(value: str | None, kind: str) -> tuple[int, Any]:
    """A key comparing numbers as numbers and dates as instants; missing values sort last."""
    if value is None:
        return (1, "")
    if kind == "number":
        try:
            return (0, float(value))
        except ValueError:
            return (0, 0.0)
    if kind in ("date", "datetime"):
        return (0, _instant(value))
    return (0, value.lower())


def _instant(value: str) -> float:
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text) / 1000
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class Search:
    """One parsed and checked search request."""

    def __init__(self, body: Any, registry: PropertyRegistry) -> None:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise bad_request("Invalid input JSON: expected an object")
        self.registry = registry
        self.groups = self._groups(body.get("filterGroups") or [])
        self.query = str(body.get("query") or "").strip().lower()
        self.sorts = self._sorts(body.get("sorts") or [])
        self.properties = [str(p) for p in body.get("properties") or []]
        self.limit = self._int(body.get("limit"), "limit", DEFAULT_LIMIT)
        if not 0 < self.limit <= MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_LIMIT}", {"limit": [str(self.limit)]})
        self.after = self._int(body.get("after"), "after", 0)
        if self.after < 0 or self.after >= MAX_RESULTS:
            raise bad_request(
                f"Search results are limited to {MAX_RESULTS} records; paging past them is not supported",
                {"after": [str(self.after)]},
            )

    @staticmethod
    def _int(value: Any, name: str, default: int) -> int:
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"Invalid {name}: {value}", {name: [str(value)]}) from None

    def _groups(self, groups: Any) -> list[list[dict[str, Any]]]:
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise bad_request("filterGroups must be a list of objects")
        parsed = [list(g.get("filters") or []) for g in groups]
        if len(parsed) > MAX_GROUPS:
            raise bad_request(f"Too many filter groups: {len(parsed)}; the maximum is {MAX_GROUPS}")
        if any(len(f) > MAX_FILTERS_PER_GROUP for f in parsed):
            raise bad_request(f"Too many filters in a group; the maximum is {MAX_FILTERS_PER_GROUP}")
        if sum(len(f) for f in parsed) > MAX_FILTERS:
            raise bad_request(f"Too many filters; the maximum is {MAX_FILTERS} across all groups")
        for filters in parsed:
            for f in filters:
                if not isinstance(f, dict) or f.get("operator") not in OPERATORS:
                    raise bad_request(f"Invalid filter operator in {f!r}")
                if not f.get("propertyName"):
                    raise bad_request("Each filter needs a propertyName")
        return parsed

    @staticmethod
    def _sorts(sorts: Any) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        for s in sorts if isinstance(sorts, list) else []:
            if isinstance(s, dict):
                out.append(
                    (str(s.get("propertyName", "")), str(s.get("direction", "")).upper() == "DESCENDING")
                )
            elif isinstance(s, str) and s:
                out.append((s.lstrip("-"), s.startswith("-")))
        return out

    # ----- evaluation ---------------------------------------------------------------------------------
    def run(self, contacts: list[Contact]) -> tuple[int, list[Contact], int | None]:
        """(total, this page, next offset or None)."""
        matches = [c for c in contacts if self._matches(c)]
        matches.sort(key=lambda c: int(c.id))
        for name, descending in reversed(self.sorts):
            kind = self._kind(name)
            matches.sort(key=lambda c, n=name, k=kind: _sortable(c.properties.get(n), k), reverse=descending)
        page = matches[self.after : self.after + self.limit]
        nxt = self.after + self.limit
        return len(matches), page, (nxt if nxt < len(matches) and nxt < MAX_RESULTS else None)

    def _kind(self, name: str) -> str:
        d = self.registry.get(name)
        return d["type"] if d else "string"

    def _matches(self, contact: Contact) -> bool:
        if self.query and not any(
            self.query in (contact.properties.get(p) or "").lower() for p in QUERY_PROPERTIES
        ):
            return False
        if not self.groups:
            return True
        return any(all(self._test(contact, f) for f in group) for group in self.groups)

    def _test(self, contact: Contact, f: dict[str, Any]) -> bool:
        name, op = str(f["propertyName"]), str(f["operator"])
        actual = contact.properties.get(name)
        if op == "HAS_PROPERTY":
            return actual not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return actual in (None, "")
        kind = self._kind(name)
        if op in ("IN", "NOT_IN"):
            wanted = {str(v).lower() for v in f.get("values") or []}
            inside = actual is not None and any(part.lower() in wanted for part in actual.split(";"))
            return inside if op == "IN" else not inside
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            found = actual is not None and _has_token(actual, str(f.get("value", "")))
            return found if op == "CONTAINS_TOKEN" else not found
        compare = _COMPARISONS[op]
        if actual is None:
            return op == "NEQ"
        left = _sortable(actual, kind)
        if op == "BETWEEN":
            low, high = _sortable(str(f.get("value", "")), kind), _sortable(str(f.get("highValue", "")), kind)
            return low <= left <= high
        return compare(left, _sortable(str(f.get("value", "")), kind))


def _has_token(actual: str, wanted: str) -> bool:
    """Tokens are words of the value (emails also split at ``@`` and dots); ``*`` is a wildcard."""
    pattern = re.compile("^" + re.escape(wanted.lower()).replace(r"\*", ".*") + "$")
    text = actual.lower()
    tokens = {text, *TOKEN_SPLIT.split(text), *re.split(r"[@.]", text)}
    return any(pattern.match(t) for t in tokens if t)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "BETWEEN": lambda a, b: True,  # handled in _test
}
