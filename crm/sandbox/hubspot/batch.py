"""The contact batch endpoints, and which failures sink a whole batch (400/409) versus one input (207).

Whole request refused, nothing written:

* malformed JSON or no ``inputs`` list; more than 100 inputs (object APIs guide: "limited to 100 inputs
  per request"; the message is modelled on HubSpot's verified 50-input property-history refusal);
* the same id twice — 400 "Duplicate IDs found in batch input: [..]. IDs must be unique" with
  ``context.ids`` (a captured HubSpot body in rudderlabs/rudder-transformer's test data). Emails compare
  case-insensitively; batch/create applies the rule to the inputs' emails;
* batch/update with an ``idProperty`` that is not a unique property, e.g. ``email``: 400 "Unable to
  perform update/upsert by non-unique 0-1 property …" (hubspot-api-nodejs#548).

Invalid values (unknown property, bad email/option/number, read-only) and duplicate emails (409):

* with an ``objectWriteTraceId`` on every input, multi-status is on: valid inputs are written and each
  failure is one ``errors[]`` entry whose ``context.objectWriteTraceId`` names its input — 207
  (error-handling guide, "Multi-status errors"; a 409 entry also carries ``context.existingId``, as in
  amp-labs/connectors' HubSpot fixtures);
* otherwise the first failure refuses the whole batch with the single-record body (400, or 409 naming
  only the first duplicate: hubspot-api-python#51) — the notes' "one invalid input may fail a whole
  batch";
* upsert by ``email`` is always all-or-nothing: the object APIs guide says "partial upserts are not
  supported when using email as the idProperty".

Missing records are never fatal: batch/read answers 207 with one ``OBJECT_NOT_FOUND`` entry listing the
ids (spec), batch/update reports unknown or merged-away ids the same way (merged ids are "not supported"
by batch update, per the guide) and writes the rest. batch/read follows merges like a single read.
batch/archive answers 204 whatever it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crm.sandbox.core import Request, Response
from crm.sandbox.hubspot.contacts import read_json
from crm.sandbox.hubspot.errors import (
    NOT_FOUND_BATCH_MESSAGE,
    HubSpotError,
    PropertyFailure,
    bad_request,
    batch_error,
    conflict_message,
    contact_conflict,
    duplicate_ids,
    failure_details,
    failures_message,
    validation_failed,
)
from crm.sandbox.hubspot.registry import utc_now
from crm.sandbox.hubspot.store import Contact, ContactStore

if TYPE_CHECKING:
    from crm.sandbox.hubspot.app import HubSpotSandbox

MAX_INPUTS = 100  # object APIs guide
TOO_MANY_MESSAGE = (
    "The maximum number of inputs supported in a batch request is {limit}. Please reduce the number of "
    "items and try again"
)


@dataclass
class Planned:
    trace_id: str | None
    target: Contact | None  # None: create
    values: dict[str, str | None]


@dataclass
class Failed:
    trace_id: str | None
    entry: dict[str, Any]  # the 207 errors[] entry
    whole: HubSpotError | None  # the all-or-nothing answer; None: never fatal (a missing record)
    missing_id: str | None = None


def _properties(item: dict[str, Any]) -> dict[str, Any]:
    """An input's properties; anything but an object refuses the whole batch."""
    props = item.get("properties")
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise bad_request("Invalid input JSON: properties must be an object")
    return dict(props)


def _context(trace_id: str | None, **extra: list[str]) -> dict[str, list[str]]:
    return ({"objectWriteTraceId": [trace_id]} if trace_id else {}) | extra


class BatchApi:
    def __init__(self, app: HubSpotSandbox) -> None:
        self.app = app

    @property
    def store(self) -> ContactStore:
        return self.app.store

    # ----- request-level checks ------------------------------------------------------------------------
    @staticmethod
    def inputs(request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise bad_request("Invalid input JSON: expected an object with an inputs list")
        inputs = body["inputs"]
        if len(inputs) > MAX_INPUTS:
            raise bad_request(TOO_MANY_MESSAGE.format(limit=MAX_INPUTS), {"inputs": [str(len(inputs))]})
        if not all(isinstance(i, dict) for i in inputs):
            raise bad_request("Invalid input JSON: each input must be an object")
        return body, inputs

    @staticmethod
    def reject_duplicates(keys: list[str]) -> None:
        seen: set[str] = set()
        dupes: list[str] = []
        for key in keys:
            if key in seen and key not in dupes:
                dupes.append(key)
            seen.add(key)
        if dupes:
            raise duplicate_ids(dupes)

    def reject_non_unique(self, id_property: str | None) -> None:
        if id_property in (None, "", "hs_object_id") or self.app.registry.is_unique(id_property):
            return
        raise bad_request(
            f"Unable to perform update/upsert by non-unique 0-1 property {id_property} in portal ID "
            f"{self.app.portal_id}",
            {"idProperty": [str(id_property)]},
        )

    # ----- planning one input --------------------------------------------------------------------------
    def invalid(self, trace_id: str | None, failures: list[PropertyFailure]) -> Failed:
        portal = self.app.portal_id
        entry = batch_error(
            "VALIDATION_ERROR",
            failures_message(failures, portal),
            _context(trace_id),
            failure_details(failures),
        )
        return Failed(trace_id, entry, validation_failed(failures, portal))

    @staticmethod
    def conflict(trace_id: str | None, existing: str) -> Failed:
        entry = batch_error("CONFLICT", conflict_message(existing), _context(trace_id, existingId=[existing]))
        return Failed(trace_id, entry, contact_conflict(existing))

    @staticmethod
    def missing(trace_id: str | None, object_id: str) -> Failed:
        entry = batch_error("OBJECT_NOT_FOUND", NOT_FOUND_BATCH_MESSAGE, _context(trace_id, ids=[object_id]))
        return Failed(trace_id, entry, None, missing_id=object_id)

    def plan(
        self, item: dict[str, Any], target: Contact | None, claimed: dict[str, int], index: int
    ) -> Planned | Failed:
        """Check one input's values against the store and the emails claimed by earlier inputs."""
        trace_id = item.get("objectWriteTraceId")
        trace_id = str(trace_id) if trace_id is not None else None
        values, failures = self.app.registry.validate(item.get("properties", {}))
        if failures:
            return self.invalid(trace_id, failures)
        email = values.get("email")
        if email and (target is None or target.properties.get("email") != email):
            owner = self.store.email_owner(email)
            if (owner and (target is None or owner != target.id)) or claimed.get(email, index) != index:
                return self.conflict(trace_id, owner or "pending")
            claimed[email] = index
        return Planned(trace_id, target, values)

    # ----- running a write batch -----------------------------------------------------------------------
    def run(
        self,
        inputs: list[dict[str, Any]],
        outcomes: list[Planned | Failed],
        *,
        atomic: bool,
        created: int,
        upsert: bool = False,
    ) -> Response:
        """Apply the plan. ``atomic``: the first fatal failure refuses everything."""
        started = utc_now()
        multi = bool(inputs) and all(i.get("objectWriteTraceId") is not None for i in inputs) and not atomic
        fatal = [o for o in outcomes if isinstance(o, Failed) and o.whole is not None]
        if fatal and not multi:
            raise fatal[0].whole  # type: ignore[misc]
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, Planned):
                results.append(self._apply(outcome, upsert))
        errors = self._errors([o for o in outcomes if isinstance(o, Failed)], multi)
        return self.answer(results, errors, started, created)

    def _apply(self, planned: Planned, upsert: bool) -> dict[str, Any]:
        is_new = planned.target is None
        contact = (
            self.store.create(planned.values)
            if planned.target is None
            else self.store.update(planned.target, planned.values)
        )
        body = self.store.to_api(
            contact, sorted(contact.properties), known=set(self.app.registry.definitions)
        )
        if upsert:
            body["new"] = is_new
        if planned.trace_id is not None:
            body["objectWriteTraceId"] = planned.trace_id
        return body

    @staticmethod
    def _errors(failed: list[Failed], multi: bool) -> list[dict[str, Any]]:
        if multi:
            return [f.entry for f in failed]
        missing = [f.missing_id for f in failed if f.missing_id]
        if not missing:
            return []
        return [batch_error("OBJECT_NOT_FOUND", NOT_FOUND_BATCH_MESSAGE, {"ids": missing})]

    @staticmethod
    def answer(
        results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, ok: int
    ) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = utc_now()
        return Response.json(207 if errors else ok, body)

    # ----- handlers ------------------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        _, inputs = self.inputs(request)
        emails = [str(_properties(i).get("email") or "").strip().lower() for i in inputs]
        self.reject_duplicates([e for e in emails if e])
        claimed: dict[str, int] = {}
        outcomes = [self.plan(item, None, claimed, n) for n, item in enumerate(inputs)]
        return self.run(inputs, outcomes, atomic=False, created=201)

    def update(self, request: Request) -> Response:
        _, inputs = self.inputs(request)
        for item in inputs:
            self.reject_non_unique(item.get("idProperty"))
        self.reject_duplicates([str(i.get("id", "")) for i in inputs])
        claimed: dict[str, int] = {}
        outcomes: list[Planned | Failed] = []
        for n, item in enumerate(inputs):
            object_id = str(item.get("id", ""))
            prop = item.get("idProperty")
            target = (
                self.store.find(object_id, follow_merges=False)
                if prop in (None, "", "hs_object_id")
                else self.store.by_property(str(prop), object_id)
            )
            trace = item.get("objectWriteTraceId")
            if target is None:
                outcomes.append(self.missing(str(trace) if trace is not None else None, object_id))
            else:
                outcomes.append(self.plan(item, target, claimed, n))
        return self.run(inputs, outcomes, atomic=False, created=200)

    def upsert(self, request: Request) -> Response:
        _, inputs = self.inputs(request)
        by_email = any(i.get("idProperty") == "email" for i in inputs)
        keys = [str(i.get("id", "")) for i in inputs]
        self.reject_duplicates([k.strip().lower() for k in keys] if by_email else keys)
        claimed: dict[str, int] = {}
        outcomes: list[Planned | Failed] = []
        for n, item in enumerate(inputs):
            outcomes.append(self._plan_upsert(item, claimed, n))
        return self.run(inputs, outcomes, atomic=by_email, created=200, upsert=True)

    def _plan_upsert(self, item: dict[str, Any], claimed: dict[str, int], index: int) -> Planned | Failed:
        object_id = str(item.get("id", "")).strip()
        prop = item.get("idProperty")
        trace = item.get("objectWriteTraceId")
        trace_id = str(trace) if trace is not None else None
        if prop in (None, "", "hs_object_id"):
            target = self.store.find(object_id, follow_merges=False)
            return self.plan(item, target, claimed, index) if target else self.missing(trace_id, object_id)
        self.reject_non_unique(None if prop == "email" else str(prop))
        target = self.store.by_property(str(prop), object_id)
        props = _properties(item)
        if target is None:
            props.setdefault(str(prop), object_id)
        return self.plan({**item, "properties": props}, target, claimed, index)

    def read(self, request: Request) -> Response:
        started = utc_now()
        body, inputs = self.inputs(request)
        prop = body.get("idProperty")
        keys = [str(i.get("id", "")) for i in inputs]
        self.reject_duplicates([k.lower() for k in keys] if prop == "email" else keys)
        if prop not in (None, "", "hs_object_id", "email") and not self.app.registry.is_unique(str(prop)):
            self.reject_non_unique(str(prop))
        names = [str(p) for p in body.get("properties") or []] or None
        history = [str(p) for p in body.get("propertiesWithHistory") or []] or None
        known = set(self.app.registry.definitions)
        results, missing = [], []
        for key in keys:
            contact = (
                self.store.find(key)
                if prop in (None, "", "hs_object_id")
                else self.store.by_property(str(prop), key)
            )
            if contact is None:
                missing.append(key)
            else:
                results.append(self.store.to_api(contact, names, history, known=known))
        errors = (
            [batch_error("OBJECT_NOT_FOUND", NOT_FOUND_BATCH_MESSAGE, {"ids": missing})] if missing else []
        )
        return self.answer(results, errors, started, 200)

    def archive(self, request: Request) -> Response:
        _, inputs = self.inputs(request)
        keys = [str(i.get("id", "")) for i in inputs]
        self.reject_duplicates(keys)
        for key in keys:
            contact = self.store.find(key, follow_merges=False)
            if contact is not None:
                self.store.archive(contact)
        return Response.empty(204)
