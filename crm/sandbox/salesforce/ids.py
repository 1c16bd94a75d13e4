"""Salesforce record ids: 15 case-sensitive characters plus the 3-character case-safe suffix.

Clients store, compare and join on ids, so the sandbox hands out ids with the real shape: a key
prefix naming the object (00Q Lead, 003 Contact, 750 Bulk job, 00D org, 005 user, 01g query
locator), then an instance part and a base-62 counter, then the checksum suffix that makes the id
safe for case-insensitive systems (each 5-character chunk contributes a bitmask of its upper-case
letters, read as an index into A-Z0-5).
"""

from __future__ import annotations

import random
import string

KEY_PREFIXES: dict[str, str] = {
    "Lead": "00Q",
    "Contact": "003",
    "BulkJob": "750",
    "Organization": "00D",
    "User": "005",
    "QueryLocator": "01g",
}

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_INSTANCE = "8d"  # the two "pod" characters every id of one org shares
_COUNTER_WIDTH = 9

# The sandbox's one org and one integration user; fixed so tokens and ids stay stable across restarts.
ORG_ID = "00D8d000000SbXpEAK"
USER_ID = "0058d000004DmQ3AAK"


def checksum(id15: str) -> str:
    """The 3-character suffix of an 18-character id."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(value: str) -> str | None:
    """The canonical 18-character form of a 15- or 18-character id, or None when malformed."""
    if len(value) not in (15, 18) or not value.isascii() or not value.isalnum():
        return None
    head = value[:15]
    suffix = checksum(head)
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return head + suffix


def key_prefix(value: str) -> str:
    return value[:3]


def _base62(n: int, width: int) -> str:
    digits = []
    while n:
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(reversed(digits)).rjust(width, "0")


def make_id(prefix: str, number: int) -> str:
    id15 = prefix + _INSTANCE + "0" + _base62(number, _COUNTER_WIDTH)
    return id15 + checksum(id15)


class IdFactory:
    """Hands out increasing ids per key prefix. The start is drawn from ``rng`` so a seed makes the
    ids repeatable, while two unseeded sandboxes still never share ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next: dict[str, int] = {}

    def new(self, prefix: str) -> str:
        if prefix not in self._next:
            self._next[prefix] = self._rng.randrange(62**5, 62**6)
        number = self._next[prefix]
        self._next[prefix] = number + 1
        return make_id(prefix, number)
