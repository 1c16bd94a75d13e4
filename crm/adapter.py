"""The one interface every CRM sits behind. Pages, the CLI, the engine and the tests use only this."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from crm.http import ApiClient

from crm.model import (
    AccountInfo,
    ExistingRecord,
    FieldDef,
    Provider,
    RecordResult,
    RecordStatus,
    WriteOp,
)

CancelCheck = Callable[[], bool]


@runtime_checkable
class CRMAdapter(Protocol):
    """A connection to one object of one CRM (HubSpot contacts, Salesforce Lead or Contact).

    Methods raise only :mod:`crm.errors` exceptions and return only :mod:`crm.model` values.
    """

    provider: Provider
    object_name: str
    #: True when the CRM can create-or-update by email in one call, so upserts need no lookup first.
    upserts_by_email: bool

    @property
    def api_calls(self) -> int:
        """Calls sent so far through this adapter (including retries)."""
        ...

    def account(self) -> AccountInfo:
        """Who we are connected as, and the API allowance left."""
        ...

    def fields(self, refresh: bool = False) -> list[FieldDef]:
        """Field definitions of the object; cached until ``refresh``."""
        ...

    def lookup(self, emails: Sequence[str], properties: Sequence[str]) -> dict[str, list[ExistingRecord]]:
        """Existing records by lower-cased email, reading ``properties``; never writes."""
        ...

    def write(
        self, ops: Sequence[WriteOp], should_stop: CancelCheck | None = None
    ) -> Iterator[list[RecordResult]]:
        """Send ``ops`` in the CRM's batches; yield each batch's results as it completes.

        Every op gets exactly one result. When ``should_stop`` turns true, or the CRM's daily limit is
        reached, the ops not yet sent come back as failed with code ``NOT_SENT``.
        """
        ...

    def read_back(self, crm_ids: Sequence[str], properties: Sequence[str]) -> dict[str, RecordStatus]:
        """Current state of pushed records, for a status check; every id gets a status."""
        ...

    def record_url(self, crm_id: str) -> str | None:
        """A link for people to open the record in the CRM."""
        ...

    def usage(self) -> Mapping[str, int]:
        """The latest API usage the CRM reported (e.g. ``{"used": 18, "limit": 15000}``), if any."""
        ...

    def close(self) -> None: ...


T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ApiAdapter:
    """What every adapter over an :class:`crm.http.ApiClient` reports the same way."""

    api: ApiClient
    _usage: dict[str, int]

    @property
    def api_calls(self) -> int:
        return self.api.api_calls

    def close(self) -> None:
        self.api.close()

    def usage(self) -> Mapping[str, int]:
        return dict(self._usage)
