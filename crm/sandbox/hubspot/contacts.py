"""The single-record contact endpoints: create, read, update, archive, list and merge.

Status codes follow the public spec (create 201, read/update/merge 200, archive 204). A read by an id
that was merged away answers the merged record, whose ``id`` differs from the one asked for (see
:mod:`crm.sandbox.hubspot.store`). Archiving an unknown id still answers 204, as HubSpot's idempotent
DELETE does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from crm.sandbox.core import Request, Response
from crm.sandbox.hubspot.errors import bad_request, contact_conflict, not_found
from crm.sandbox.hubspot.registry import raise_if_failed
from crm.sandbox.hubspot.store import Contact, ContactStore

if TYPE_CHECKING:
    from crm.sandbox.hubspot.app import HubSpotSandbox

LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100  # object APIs guide: up to 100 records per page
NOT_FOUND_MESSAGE = "resource not found"


def read_json(request: Request) -> Any:
    """The body, or HubSpot's 400 for malformed JSON."""
    try:
        return request.json()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"Invalid input JSON on line {getattr(exc, 'lineno', 1)}: {exc}") from None


def flag(request: Request, name: str) -> bool:
    return (request.arg(name) or "").lower() == "true"


class ContactsApi:
    """Handlers bound to one sandbox; each runs under the app lock."""

    def __init__(self, app: HubSpotSandbox) -> None:
        self.app = app

    @property
    def store(self) -> ContactStore:
        """Read through the app: ``reset()`` replaces the store."""
        return self.app.store

    def known(self) -> set[str]:
        return set(self.app.registry.definitions)

    def full(self, contact: Contact) -> dict[str, Any]:
        """Create and update answer with every value the record holds."""
        return self.store.to_api(contact, sorted(contact.properties), known=self.known())

    def lookup(self, object_id: str, id_property: str | None, *, archived: bool = False) -> Contact | None:
        """Find by record id (following merges) or by ``idProperty`` (email or a unique property)."""
        if archived:
            return self.store.archived.get(object_id)
        if id_property in (None, "", "hs_object_id"):
            return self.store.find(object_id)
        if id_property != "email" and not self.app.registry.is_unique(id_property):
            raise bad_request(
                f"Unable to perform lookup by non-unique 0-1 property {id_property} in portal ID "
                f"{self.app.portal_id}",
                {"idProperty": [str(id_property)]},
            )
        return self.store.by_property(id_property, object_id)

    def check_email_free(self, values: dict[str, str | None], owner: Contact | None) -> None:
        email = values.get("email")
        if email:
            existing = self.store.email_owner(email)
            if existing and (owner is None or existing != owner.id):
                raise contact_conflict(existing)

    # ----- handlers -----------------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        body = read_json(request) or {}
        values, failures = self.app.registry.validate(
            body.get("properties", {}) if isinstance(body, dict) else None
        )
        raise_if_failed(failures, self.app.portal_id)
        self.check_email_free(values, None)
        contact = self.store.create(values)
        return Response.json(201, self.full(contact))

    def get(self, request: Request) -> Response:
        contact = self.lookup(
            request.params["id"], request.arg("idProperty"), archived=flag(request, "archived")
        )
        if contact is None:
            raise not_found(NOT_FOUND_MESSAGE)
        body = self.store.to_api(
            contact,
            request.arg_list("properties") or None,
            request.arg_list("propertiesWithHistory") or None,
            known=self.known(),
        )
        return Response.json(200, body)

    def update(self, request: Request) -> Response:
        contact = self.lookup(request.params["id"], request.arg("idProperty"))
        if contact is None:
            raise not_found(NOT_FOUND_MESSAGE)
        body = read_json(request) or {}
        values, failures = self.app.registry.validate(
            body.get("properties", {}) if isinstance(body, dict) else None
        )
        raise_if_failed(failures, self.app.portal_id)
        self.check_email_free(values, contact)
        self.store.update(contact, values)
        return Response.json(200, self.full(contact))

    def archive(self, request: Request) -> Response:
        contact = self.store.find(request.params["id"])
        if contact is not None:
            self.store.archive(contact)
        return Response.empty(204)

    def page(self, request: Request) -> Response:
        limit = _int_arg(request, "limit", LIST_DEFAULT_LIMIT)
        if not 0 < limit <= LIST_MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {LIST_MAX_LIMIT}", {"limit": [str(limit)]})
        after = _int_arg(request, "after", 0)
        pool = self.store.archived if flag(request, "archived") else self.store.contacts
        ordered = sorted((c for c in pool.values() if int(c.id) >= after), key=lambda c: int(c.id))
        page, rest = ordered[:limit], ordered[limit:]
        props = request.arg_list("properties") or None
        history = request.arg_list("propertiesWithHistory") or None
        body: dict[str, Any] = {
            "results": [self.store.to_api(c, props, history, known=self.known()) for c in page]
        }
        if rest:
            query = {k: v for k, v in request.query.items() if k not in ("after", "limit")}
            pairs = [(k, x) for k, vs in query.items() for x in vs] + [
                ("limit", limit),
                ("after", rest[0].id),
            ]
            link = f"{self.app.base_url}{request.path}?{urlencode(pairs)}"
            body["paging"] = {"next": {"after": rest[0].id, "link": link}}
        return Response.json(200, body)

    def merge(self, request: Request) -> Response:
        body = read_json(request)
        if not isinstance(body, dict) or not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
            raise bad_request("primaryObjectId and objectIdToMerge are required")
        primary = self.store.find(str(body["primaryObjectId"]))
        secondary = self.store.find(str(body["objectIdToMerge"]))
        if primary is None or secondary is None:
            raise not_found(NOT_FOUND_MESSAGE)
        if primary is secondary:
            raise bad_request("Cannot merge a record with itself", {"ids": [primary.id]})
        merged = self.store.merge(primary, secondary)
        return Response.json(200, self.full(merged))


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Invalid {name}: {raw}", {name: [raw]}) from None
