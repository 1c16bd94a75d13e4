"""Which lead field each column of an uploaded file holds.

Exports from HubSpot, Salesforce, webinar tools and spreadsheets name the same thing a dozen ways
(``Email Address``, ``E-mail``, ``email_address``, ``Vorname``…). Headers are compared by a key made of
their lower-cased letters and digits, so case, spaces and punctuation never matter. Each field is given to
at most one column; everything unmatched maps to ``None`` and is kept in the lead's ``extra`` JSON.
The result is only a suggestion: the analyst can correct it, and every later step takes an explicit map.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import String

from data.models import Lead

# The lead fields a column can fill, in the order the pages show them.
LEAD_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "website",
    "city",
    "state",
    "country",
    "industry",
    "score",
    "tier",
)


def _column_length(field: str) -> int | None:
    column_type = Lead.__table__.c[field].type
    return column_type.length if isinstance(column_type, String) else None


# The longest value each text field takes, straight from the model, so the import refuses what the
# database would refuse (PostgreSQL) or silently accept (SQLite).
FIELD_MAX_LENGTH: dict[str, int] = {
    field: length for field in LEAD_FIELDS if (length := _column_length(field)) is not None
}

# Exact header keys per field, best first: when two headers claim a field, the better spelling wins.
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "emailaddress", "mail", "emailadresse", "mailadresse", "workemail", "businessemail",
        "primaryemail", "contactemail", "leademail", "emailid", "emailaddr", "courriel", "correo",
    ),
    "first_name": (
        "firstname", "givenname", "forename", "first", "fname", "vorname", "prenom", "nombre",
        "contactfirstname",
    ),
    "last_name": (
        "lastname", "surname", "familyname", "last", "lname", "nachname", "familienname", "apellido",
        "apellidos", "contactlastname",
    ),
    "company": (
        "company", "companyname", "organisation", "organization", "organisationname",
        "organizationname", "account", "accountname", "org", "employer", "business", "businessname",
        "firma", "unternehmen", "firmenname", "societe", "empresa",
    ),
    "title": (
        "jobtitle", "title", "position", "role", "jobrole", "designation", "jobposition", "funktion",
        "berufsbezeichnung",
    ),
    "phone": (
        "phone", "phonenumber", "telephone", "telephonenumber", "tel", "mobile", "mobilephone",
        "mobilenumber", "cell", "cellphone", "workphone", "businessphone", "directphone", "telefon",
        "telefonnummer", "mobil", "handy",
    ),
    "website": (
        "website", "websiteurl", "url", "web", "homepage", "companywebsite", "companyurl", "domain",
        "companydomain", "webseite", "site",
    ),
    "city": ("city", "town", "locality", "ort", "stadt", "ville", "ciudad"),
    "state": (
        "state", "stateprovince", "stateregion", "province", "region", "statecode", "county",
        "bundesland", "kanton",
    ),
    "country": ("country", "countryregion", "countryname", "countrycode", "nation", "land", "pays", "pais"),
    "industry": ("industry", "sector", "vertical", "industrytype", "branche"),
    "score": ("leadscore", "score", "hubspotscore", "scoring", "leadscoring", "points"),
    "tier": ("tier", "leadtier", "grade", "temperature", "leadtemperature", "leadrating"),
}
# fmt: on

# A header that names either a score or a tier: Salesforce's ``Rating`` is Hot/Warm/Cold, a survey's
# is a number. The values decide when they are known; otherwise a number is the likelier meaning.
AMBIGUOUS: dict[str, tuple[str, ...]] = {"rating": ("score", "tier")}

# Qualified headers ("Contact Email", "Billing Country", "Engagement Score") end with one of these.
# Short or generic keys (``title``, ``state``, ``url``) are left out: "Webinar Title" is no job title.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "email": ("emailaddress", "email"),
    "first_name": ("firstname",),
    "last_name": ("lastname", "surname"),
    "company": ("companyname", "company"),
    "phone": ("phonenumber", "phone"),
    "website": ("website",),
    "city": ("city",),
    "country": ("country",),
    "industry": ("industry",),
    "score": ("score",),
    "tier": ("tier",),
}

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_NUMBER = re.compile(r"\s*[+-]?\d+(?:[.,]\d+)?\s*%?\s*")
TIER_WORDS = frozenset({"hot", "warm", "cool", "cold"})
# A value-based guess needs this share of the sampled, non-blank values to agree.
_MAJORITY = 0.5


def header_key(header: str) -> str:
    """The comparable form of a header: accents folded, lower case, letters and digits only."""
    folded = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALNUM.sub("", folded.lower())


def detect_columns(
    headers: Sequence[str], *, samples: Mapping[str, Sequence[str]] | None = None
) -> dict[str, str | None]:
    """Map each header to a lead field or ``None``; each field is used at most once.

    Exact spellings win over qualified ones ("Contact Email"), which win over ambiguous ones
    (``Rating``); within a kind, the better spelling, then the leftmost column. ``samples`` (a few values
    per header) settle what a header alone cannot: a ``Grade`` of A/B/C is no tier, a ``Rating`` of
    Hot/Cold is one, and with no email header the column whose values hold ``@`` is the email.
    """
    keys = [header_key(header) for header in headers]
    candidates: list[tuple[int, int, int, str]] = []
    for position, key in enumerate(keys):
        for field in LEAD_FIELDS:
            if key in SYNONYMS[field]:
                candidates.append((0, SYNONYMS[field].index(key), position, field))
            elif key and any(key.endswith(suffix) for suffix in SUFFIXES.get(field, ())):
                candidates.append((1, 0, position, field))
        for rank, field in enumerate(AMBIGUOUS.get(key, ())):
            candidates.append((2, rank, position, field))
    result: dict[str, str | None] = dict.fromkeys(headers)
    taken: set[str] = set()
    for _kind, _rank, position, field in sorted(candidates):
        header = headers[position]
        values = [value for value in (samples or {}).get(header, ()) if value.strip()]
        if field in taken or result[header] is not None or not _plausible(field, values):
            continue
        result[header] = field
        taken.add(field)
    if samples is not None and "email" not in taken:
        _email_from_values(headers, result, samples)
    return result


def _plausible(field: str, values: Sequence[str]) -> bool:
    """Whether sampled values fit a score or tier column; other fields take any text."""
    checks: dict[str, Callable[[str], bool]] = {"score": _looks_like_number, "tier": _looks_like_tier}
    if field not in checks or not values:
        return True
    return _share(values, checks[field]) >= _MAJORITY


def _email_from_values(
    headers: Sequence[str], result: dict[str, str | None], samples: Mapping[str, Sequence[str]]
) -> None:
    """With no email header, take the first unmapped column whose values mostly contain an ``@``."""
    for header in headers:
        filled = [value for value in samples.get(header, ()) if value.strip()]
        if result[header] is None and filled and _share(filled, lambda value: "@" in value) >= _MAJORITY:
            result[header] = "email"
            return


def _share(values: Sequence[str], predicate: Callable[[str], bool]) -> float:
    return sum(1 for value in values if predicate(value)) / len(values)


def _looks_like_number(value: str) -> bool:
    return _NUMBER.fullmatch(value) is not None


def _looks_like_tier(value: str) -> bool:
    return value.strip().lower() in TIER_WORDS
