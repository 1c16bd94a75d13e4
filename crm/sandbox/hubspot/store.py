"""The sandbox portal's contacts: records, the case-insensitive email index, archive and merge.

Merges follow HubSpot's current behaviour (Developer Changelog, "Updated merge functionality for
contacts and companies"): the merge creates a *new* record with a *new* id; the primary's values win and
the secondary only fills gaps; both old ids keep pointing at the result, "so fetching any records using
the original IDs will return the new merged record with the new ID". ``hs_merged_object_ids`` lists the
old ids and the secondary's email becomes an additional email that still finds the contact. The object
APIs guide adds that old ids work with the basic update endpoint but "are not supported when updating
records using the batch update endpoint" — see :meth:`ContactStore.find`'s ``follow_merges``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from crm.sandbox.hubspot.registry import utc_now

# A contact created without ``properties=`` in the query answers with these (HubSpot's default set).
DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
MAINTAINED = ("createdate", "lastmodifieddate", "hs_object_id")
MULTI_SEPARATOR = ";"  # HubSpot's separator for multi-valued (checkbox) properties


@dataclass
class Contact:
    id: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    archived: bool = False
    archived_at: str | None = None


class ContactStore:
    """All contacts of one portal. Not locked itself: the app's handlers run under the core's lock."""

    def __init__(self, seed: int | None, portal_id: int) -> None:
        self.portal_id = portal_id
        self._ids = random.Random(seed)  # nosec B311 - emulated ids, not security
        self._next_id = 100_000 + self._ids.randrange(900_000)
        self.contacts: dict[str, Contact] = {}
        self.archived: dict[str, Contact] = {}
        self.email_index: dict[str, str] = {}  # lower-case email -> id
        self.merged_into: dict[str, str] = {}  # merged-away id -> surviving id

    def new_id(self) -> str:
        """Increasing ids, so ``after`` paging by id works; gaps like a shared real portal."""
        self._next_id += 1 + self._ids.randrange(40)
        return str(self._next_id)

    # ----- lookup -------------------------------------------------------------------------------------
    def find(self, object_id: str, *, follow_merges: bool = True) -> Contact | None:
        contact = self.contacts.get(object_id)
        if contact is None and follow_merges:
            seen: set[str] = set()
            while object_id in self.merged_into and object_id not in seen:
                seen.add(object_id)
                object_id = self.merged_into[object_id]
            contact = self.contacts.get(object_id)
        return contact

    def by_email(self, email: str) -> Contact | None:
        object_id = self.email_index.get(email.strip().lower())
        return self.contacts.get(object_id) if object_id else None

    def by_property(self, name: str, value: str) -> Contact | None:
        if name == "email":
            return self.by_email(value)
        if name in ("hs_object_id", ""):
            return self.find(value)
        return next((c for c in self.contacts.values() if c.properties.get(name) == value), None)

    def email_owner(self, email: str) -> str | None:
        return self.email_index.get(email.strip().lower())

    # ----- writing ------------------------------------------------------------------------------------
    def create(self, values: dict[str, str | None], object_id: str | None = None) -> Contact:
        now = utc_now()
        object_id = object_id or self.new_id()
        contact = Contact(id=object_id, properties={}, created_at=now, updated_at=now)
        self.contacts[object_id] = contact
        self._apply(contact, {"createdate": now, "hs_object_id": object_id, **values}, now)
        return contact

    def update(self, contact: Contact, values: dict[str, str | None]) -> Contact:
        self._apply(contact, values, utc_now())
        return contact

    def _apply(self, contact: Contact, values: dict[str, str | None], now: str) -> None:
        for name, value in values.items():
            if name == "email":
                self._reindex_email(contact, value)
            if value is None:
                contact.properties.pop(name, None)
            else:
                contact.properties[name] = value
            entry = {"value": value or "", "timestamp": now, "sourceType": "API", "sourceId": "sandbox"}
            contact.history.setdefault(name, []).insert(0, entry)
        email = contact.properties.get("email")
        if email:
            contact.properties["hs_email_domain"] = email.rsplit("@", 1)[-1]
        else:
            contact.properties.pop("hs_email_domain", None)
        contact.properties["lastmodifieddate"] = now
        contact.updated_at = now

    def _reindex_email(self, contact: Contact, new: str | None) -> None:
        old = contact.properties.get("email")
        if old and self.email_index.get(old) == contact.id:
            del self.email_index[old]
        if new:
            self.email_index[new.lower()] = contact.id

    def archive(self, contact: Contact) -> None:
        del self.contacts[contact.id]
        for email in self._emails(contact):
            if self.email_index.get(email) == contact.id:
                del self.email_index[email]
        contact.archived = True
        contact.archived_at = utc_now()
        self.archived[contact.id] = contact

    @staticmethod
    def _emails(contact: Contact) -> list[str]:
        emails = [contact.properties.get("email", "")]
        emails += contact.properties.get("hs_additional_emails", "").split(MULTI_SEPARATOR)
        return [e for e in emails if e]

    def merge(self, primary: Contact, secondary: Contact) -> Contact:
        """A new record: secondary's values under primary's, both old ids pointing at it."""
        values: dict[str, str | None] = {
            k: v for k, v in {**secondary.properties, **primary.properties}.items() if k not in MAINTAINED
        }
        old_ids = self._merged_ids(primary) + self._merged_ids(secondary)
        main = values.get("email")
        extra = [e for e in self._emails(primary) + self._emails(secondary) if e != main]
        values["hs_merged_object_ids"] = MULTI_SEPARATOR.join(old_ids)
        values["hs_additional_emails"] = MULTI_SEPARATOR.join(dict.fromkeys(extra)) or None
        for old in (primary, secondary):
            del self.contacts[old.id]
            for email in self._emails(old):
                self.email_index.pop(email, None)
        merged = self.create(values)
        merged.created_at = min(primary.created_at, secondary.created_at)
        merged.properties["createdate"] = merged.created_at
        for email in self._emails(merged):
            self.email_index[email] = merged.id
        for old in old_ids:
            self.merged_into[old] = merged.id
        return merged

    @staticmethod
    def _merged_ids(contact: Contact) -> list[str]:
        earlier = contact.properties.get("hs_merged_object_ids", "")
        return [contact.id, *[i for i in earlier.split(MULTI_SEPARATOR) if i]]

    # ----- reading ------------------------------------------------------------------------------------
    def record_url(self, contact: Contact) -> str:
        return f"https://app.hubspot.com/contacts/{self.portal_id}/record/0-1/{contact.id}"

    def to_api(
        self,
        contact: Contact,
        properties: list[str] | None = None,
        with_history: list[str] | None = None,
        known: set[str] | None = None,
    ) -> dict[str, Any]:
        """A SimplePublicObject. Requested properties without a value come back as null (as the live API
        answers); names that are not properties of the portal are left out."""
        names = list(properties) if properties else list(DEFAULT_PROPERTIES)
        props = {n: contact.properties.get(n) for n in names if known is None or n in known}
        body: dict[str, Any] = {
            "id": contact.id,
            "properties": props,
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
            "archived": contact.archived,
        }
        if contact.archived_at:
            body["archivedAt"] = contact.archived_at
        if with_history:
            body["propertiesWithHistory"] = {n: list(contact.history.get(n, [])) for n in with_history}
        body["url"] = self.record_url(contact)
        return body

    def dump(self) -> list[dict[str, Any]]:
        """Every live contact with all its values, ordered by id."""
        return [
            {
                "id": c.id,
                "properties": dict(sorted(c.properties.items())),
                "createdAt": c.created_at,
                "updatedAt": c.updated_at,
                "archived": False,
            }
            for c in sorted(self.contacts.values(), key=lambda c: int(c.id))
        ]
