"""The org's Lead and Contact records, and every write the APIs share (REST, Collections, Bulk).

A record holds every describe field, system fields included (Id, IsDeleted, CreatedDate,
LastModifiedDate, SystemModstamp, OwnerId, the Name compound, Lead IsConverted /
ConvertedContactId, MasterRecordId …), because status checks read exactly those. Deleting or
merging a record keeps it in the recycle bin (``IsDeleted``), where only ``queryAll`` and
``dump()`` still see it; any write to it answers ``ENTITY_IS_DELETED``.

Writes can run inside a transaction (``begin``/``rollback``/``commit``): Collections with
``allOrNone`` undo the records already saved when a later one fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.sandbox.salesforce.describe import SObjectSchema, load_schemas
from crm.sandbox.salesforce.errors import SaveError, entity_is_deleted, invalid_cross_reference, malformed_id
from crm.sandbox.salesforce.ids import USER_ID, IdFactory, to18
from crm.sandbox.salesforce.validation import format_datetime, prepare, validate

DUPLICATE_MESSAGE = "You're creating a duplicate record. We recommend you use an existing record instead."
# The standard duplicate and matching rules every org ships with (names as Salesforce reports them).
DUPLICATE_RULES = {
    "Lead": ("Standard_Lead_Duplicate_Rule", "Standard_Lead_Match_Rule_v1_0"),
    "Contact": ("Standard_Contact_Duplicate_Rule", "Standard_Contact_Match_Rule_v1_1"),
}
CONVERTED_STATUS = "Closed - Converted"
# Lead fields copied onto the Contact a conversion creates (the standard lead field mapping).
CONVERT_MAP = {
    "Salutation": "Salutation",
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Title": "Title",
    "Email": "Email",
    "Phone": "Phone",
    "MobilePhone": "MobilePhone",
    "Fax": "Fax",
    "LeadSource": "LeadSource",
    "Description": "Description",
    "Street": "MailingStreet",
    "City": "MailingCity",
    "State": "MailingState",
    "PostalCode": "MailingPostalCode",
    "Country": "MailingCountry",
}


@dataclass
class WriteOptions:
    """What a write depends on besides its values: the URL's API version (for record URLs in
    duplicate results), the duplicate-rule header, and whether the values came as JSON or CSV."""

    version: str
    allow_save: bool = False
    source: str = "json"


@dataclass
class SaveResult:
    id: str | None
    errors: list[SaveError] = field(default_factory=list)
    created: bool | None = None

    @property
    def success(self) -> bool:
        return not self.errors


class RecordStore:
    def __init__(
        self, ids: IdFactory, clock: Callable[[], datetime], duplicate_rule: Callable[[], bool]
    ) -> None:
        self.schemas = load_schemas()
        self.ids = ids
        self.clock = clock
        self.duplicate_rule = duplicate_rule
        self.records: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[str]] = {name: [] for name in self.schemas}
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._journal: list[tuple[str, dict[str, Any] | None]] | None = None

    # ----- reading --------------------------------------------------------------------------------
    def get(self, record_id: str) -> dict[str, Any] | None:
        rid = to18(record_id)
        return self.records.get(rid) if rid else None

    def all(self, sobject: str) -> Iterator[dict[str, Any]]:
        return (self.records[rid] for rid in self.order[sobject])

    def live(self, sobject: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.all(sobject) if not r["IsDeleted"])

    def count(self, sobject: str) -> int:
        return sum(1 for _ in self.live(sobject))

    def lookup(self, schema: SObjectSchema, record_id: str) -> tuple[dict[str, Any] | None, SaveError | None]:
        """The live record ``record_id`` of ``schema``, or the error a write to it gets."""
        rid = to18(record_id or "")
        if rid is None or not rid.startswith(schema.key_prefix):
            return None, malformed_id(schema.name, record_id)
        record = self.records.get(rid)
        if record is None:
            return None, invalid_cross_reference()
        if record["IsDeleted"]:
            return None, entity_is_deleted()
        return record, None

    def find(self, schema: SObjectSchema, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field_name`` equals ``value`` (case-insensitive, like the platform)."""
        if value in (None, ""):
            return []
        if field_name == "Id":
            record = self.get(str(value))
            ok = record is not None and record["Id"].startswith(schema.key_prefix) and not record["IsDeleted"]
            return [record] if ok and record else []
        key = (schema.name, field_name, str(value).lower())
        if field_name in schema.lookup_fields:
            return [self.records[rid] for rid in sorted(self._index.get(key, ()))]
        return [r for r in self.live(schema.name) if str(r.get(field_name) or "").lower() == key[2]]

    # ----- transactions ---------------------------------------------------------------------------
    def begin(self) -> None:
        self._journal = []

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        journal, self._journal = self._journal or [], None
        for rid, previous in reversed(journal):
            current = self.records.get(rid)
            if current is not None:
                self._unindex(current)
            if previous is None:
                self.records.pop(rid, None)
                order = self.order[self._sobject_of(rid)]
                if rid in order:
                    order.remove(rid)
            else:
                self.records[rid] = previous
                self._reindex(previous)

    def _remember(self, rid: str) -> None:
        if self._journal is not None:
            previous = self.records.get(rid)
            self._journal.append((rid, copy.deepcopy(previous) if previous is not None else None))

    def _sobject_of(self, rid: str) -> str:
        return next(name for name, s in self.schemas.items() if rid.startswith(s.key_prefix))

    # ----- writing --------------------------------------------------------------------------------
    def insert(self, schema: SObjectSchema, payload: dict[str, Any], opts: WriteOptions) -> SaveResult:
        values, errors = prepare(schema, payload, creating=True, source=opts.source)
        if errors:
            return SaveResult(None, errors)
        record = self._blank(schema)
        record.update(values)
        errors = validate(schema, record, values, creating=True) or self._duplicates(schema, record, opts)
        if errors:
            return SaveResult(None, errors)
        rid = self.ids.new(schema.key_prefix)
        now = self.now()
        record.update(Id=rid, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now)
        self._derive(schema, record)
        self._remember(rid)
        self.records[rid] = record
        self.order[schema.name].append(rid)
        self._reindex(record)
        return SaveResult(rid, created=True)

    def update(
        self, schema: SObjectSchema, record_id: str, payload: dict[str, Any], opts: WriteOptions
    ) -> SaveResult:
        current, error = self.lookup(schema, record_id)
        if current is None:
            return SaveResult(None, [error] if error else [])
        if schema.name == "Lead" and current["IsConverted"]:
            return SaveResult(
                None, [SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")]
            )
        values, errors = prepare(schema, payload, creating=False, source=opts.source)
        if errors:
            return SaveResult(None, errors)
        merged = {**current, **values}
        errors = validate(schema, merged, values, creating=False)
        if not errors and "Email" in values:
            errors = self._duplicates(schema, merged, opts)
        if errors:
            return SaveResult(None, errors)
        self._write(schema, current["Id"], values)
        return SaveResult(current["Id"], created=False)

    def upsert(
        self, schema: SObjectSchema, key_field: str, payload: dict[str, Any], opts: WriteOptions
    ) -> SaveResult:
        """Create or update by ``key_field`` (Id, or an idLookup/external id field such as Email)."""
        key_value = next((v for k, v in payload.items() if k.lower() == key_field.lower()), None)
        matches = self.find(schema, key_field, key_value)
        if len(matches) > 1:
            ids = ", ".join(r["Id"] for r in matches)
            label = schema.fields[key_field].label
            message = f"{label}: more than one record found for external id field: [{ids}]"
            return SaveResult(None, [SaveError("DUPLICATE_EXTERNAL_ID", message)])
        if not matches:
            if key_field == "Id" and key_value not in (None, ""):
                _, error = self.lookup(schema, str(key_value))
                return SaveResult(None, [error or invalid_cross_reference()])
            body = {k: v for k, v in payload.items() if k.lower() != "id"}
            return self.insert(schema, body, opts)
        body = {k: v for k, v in payload.items() if k.lower() != "id"}
        return self.update(schema, matches[0]["Id"], body, opts)

    def delete(self, schema: SObjectSchema | None, record_id: str) -> SaveResult:
        rid = to18(record_id or "")
        if rid is None or (schema is not None and not rid.startswith(schema.key_prefix)):
            return SaveResult(None, [SaveError("MALFORMED_ID", f"malformed id {record_id}")])
        record = self.records.get(rid)
        if record is None:
            return SaveResult(None, [invalid_cross_reference()])
        if record["IsDeleted"]:
            return SaveResult(None, [entity_is_deleted()])
        self._write(self.schemas[self._sobject_of(rid)], rid, {"IsDeleted": True})
        return SaveResult(rid)

    def convert(self, lead_id: str, status: str | None = None) -> dict[str, Any]:
        """Lead conversion as the UI does it: a Contact from the lead's fields, the lead marked
        converted and pointing at it. (The sandbox keeps no Accounts or Opportunities.)"""
        lead_schema, contact_schema = self.schemas["Lead"], self.schemas["Contact"]
        lead, error = self.lookup(lead_schema, lead_id)
        if lead is None:
            raise LookupError(error.message if error else "not found")
        if lead["IsConverted"]:
            raise ValueError("lead is already converted")
        values = {dst: lead[src] for src, dst in CONVERT_MAP.items() if lead.get(src) is not None}
        result = self.insert(contact_schema, values, WriteOptions(version="", allow_save=True))
        if not result.success:
            raise ValueError("; ".join(e.message for e in result.errors))
        today = self.clock().date().isoformat()
        self._write(
            lead_schema,
            lead["Id"],
            {
                "IsConverted": True,
                "ConvertedContactId": result.id,
                "ConvertedDate": today,
                "Status": status or CONVERTED_STATUS,
            },
        )
        return {"leadId": lead["Id"], "contactId": result.id, "accountId": None, "opportunityId": None}

    def merge(self, master_id: str, merged_id: str) -> dict[str, Any]:
        """A merge keeps the master and sends the other record to the recycle bin with
        ``MasterRecordId`` pointing at the master, which is what queryAll then shows."""
        master, merged = self.get(master_id), self.get(merged_id)
        if master is None or merged is None or master["IsDeleted"] or merged["IsDeleted"]:
            raise LookupError("both records must exist and not be deleted")
        if master["Id"] == merged["Id"] or master["Id"][:3] != merged["Id"][:3]:
            raise ValueError("merge needs two different records of the same object")
        schema = self.schemas[self._sobject_of(master["Id"])]
        self._write(schema, merged["Id"], {"IsDeleted": True, "MasterRecordId": master["Id"]})
        self._write(schema, master["Id"], {})
        return {"masterId": master["Id"], "mergedId": merged["Id"]}

    # ----- internals ------------------------------------------------------------------------------
    def now(self) -> str:
        return format_datetime(self.clock())

    def _blank(self, schema: SObjectSchema) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for f in schema.fields.values():
            if f.type == "address":
                continue
            default = f.default_value
            if f.type == "boolean":
                default = bool(default)
            record[f.name] = default
        record.update(IsDeleted=False, OwnerId=USER_ID, CreatedById=USER_ID, LastModifiedById=USER_ID)
        return record

    def _write(self, schema: SObjectSchema, rid: str, values: dict[str, Any]) -> None:
        self._remember(rid)
        record = self.records[rid]
        self._unindex(record)
        now = self.now()
        record.update(values)
        record.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=USER_ID)
        self._derive(schema, record)
        self._reindex(record)

    @staticmethod
    def _derive(schema: SObjectSchema, record: dict[str, Any]) -> None:
        """Formula-like fields the platform computes: the Name compound."""
        parts = [record.get("FirstName"), record.get("LastName")]
        record["Name"] = " ".join(p for p in parts if p) or None

    def _reindex(self, record: dict[str, Any]) -> None:
        if record["IsDeleted"]:
            return
        schema = self.schemas[self._sobject_of(record["Id"])]
        for name in schema.lookup_fields:
            value = record.get(name)
            if name != "Id" and value not in (None, ""):
                self._index.setdefault((schema.name, name, str(value).lower()), set()).add(record["Id"])

    def _unindex(self, record: dict[str, Any]) -> None:
        schema = self.schemas[self._sobject_of(record["Id"])]
        for name in schema.lookup_fields:
            value = record.get(name)
            if name != "Id" and value not in (None, ""):
                self._index.get((schema.name, name, str(value).lower()), set()).discard(record["Id"])

    def _duplicates(
        self, schema: SObjectSchema, record: dict[str, Any], opts: WriteOptions
    ) -> list[SaveError]:
        """The standard duplicate rule (when the sandbox has it on): same e-mail, same object."""
        if not self.duplicate_rule() or opts.allow_save or not record.get("Email"):
            return []
        matches = [r for r in self.find(schema, "Email", record["Email"]) if r["Id"] != record.get("Id")]
        if not matches:
            return []
        rule, match_rule = DUPLICATE_RULES[schema.name]
        match_records = [
            {
                "additionalInformation": [],
                "fieldDiffs": [],
                "matchConfidence": 100.0,
                "record": {
                    "attributes": {
                        "type": schema.name,
                        "url": f"/services/data/v{opts.version}/sobjects/{schema.name}/{r['Id']}",
                    },
                    "Id": r["Id"],
                },
            }
            for r in matches
        ]
        duplicate_result = {
            "allowSave": True,
            "duplicateRule": rule,
            "duplicateRuleEntityType": schema.name,
            "errorMessage": DUPLICATE_MESSAGE,
            "matchResults": [
                {
                    "entityType": schema.name,
                    "errors": [],
                    "matchEngine": "FuzzyMatchEngine",
                    "matchRecords": match_records,
                    "rule": match_rule,
                    "size": len(match_records),
                    "success": True,
                }
            ],
        }
        return [
            SaveError("DUPLICATES_DETECTED", DUPLICATE_MESSAGE, [], {"duplicateResult": duplicate_result})
        ]
