"""Our own typed values: what an adapter returns and the push engine passes around, never vendor JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# A value as the CRMs carry it on the wire: HubSpot wants strings, Salesforce takes JSON scalars.
Value = str | int | float | bool | None


class Provider(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


class Action(StrEnum):
    """The one final outcome of an input row (a dry run predicts the same values)."""

    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    FAILED = "failed"


class PushMode(StrEnum):
    UPSERT = "upsert"
    CREATE_ONLY = "create-only"
    UPDATE_ONLY = "update-only"


class WriteKind(StrEnum):
    """What the engine asks an adapter to do with one record."""

    UPSERT = "upsert"  # by email; the CRM decides create vs update (HubSpot)
    CREATE = "create"  # known not to exist at lookup time
    UPDATE = "update"  # known to exist; ``crm_id`` is set


class RecordState(StrEnum):
    EXISTS = "exists"
    DELETED = "deleted"
    MERGED = "merged"
    CONVERTED = "converted"  # Salesforce Lead converted to a Contact


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One CRM field, normalised across vendors.

    ``type`` is one of: string, textarea, email, phone, url, number, integer, boolean, date, datetime,
    picklist, multipicklist, id, reference, other. ``vendor_type`` keeps the CRM's own spelling.
    """

    name: str
    label: str
    type: str
    required: bool = False  # required on create
    read_only: bool = False
    max_length: int | None = None
    options: tuple[str, ...] = ()  # allowed picklist values (API values)
    unique: bool = False
    restricted: bool = False  # a value outside ``options`` is refused
    vendor_type: str = ""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Who a connection is connected as, and how much API allowance is left."""

    provider: Provider
    account_id: str  # HubSpot portal id, Salesforce org id
    user: str | None = None
    instance_url: str | None = None
    scopes: tuple[str, ...] = ()
    api_used: int | None = None
    api_limit: int | None = None
    details: Mapping[str, Value] = field(default_factory=dict)

    @property
    def api_remaining(self) -> int | None:
        if self.api_used is None or self.api_limit is None:
            return None
        return max(self.api_limit - self.api_used, 0)


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """One row to push: our stable ``key`` (never sent), the email it matches on, the mapped CRM values."""

    key: str
    email: str
    properties: Mapping[str, Value]
    fingerprint: str | None = None  # payload hash, when the caller computed it already


@dataclass(frozen=True, slots=True)
class ExistingRecord:
    """A record found in the CRM by a lookup."""

    crm_id: str
    email: str
    properties: Mapping[str, Value]
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class WriteOp:
    key: str
    email: str
    kind: WriteKind
    properties: Mapping[str, Value]
    crm_id: str | None = None


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Value
    after: Value


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The final (or, in a dry run, predicted) outcome of one input row."""

    key: str
    email: str
    action: Action
    crm_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordStatus:
    """A pushed record as the CRM holds it now."""

    crm_id: str
    state: RecordState
    properties: Mapping[str, Value] = field(default_factory=dict)
    last_modified: str | None = None
    merged_into: str | None = None  # the surviving id after a merge or a lead conversion


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    api_calls: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PushSummary:
    total: int
    created: int
    updated: int
    skipped: int
    failed: int
    api_calls: int
    seconds: float
    dry_run: bool = False
    stopped_reason: str | None = None  # set when the run stopped early (cancelled, daily limit)

    @property
    def ok(self) -> bool:
        return self.failed == 0
