"""The Lead and Contact schemas, straight from describes recorded against real orgs.

Validation, SOQL and the describe endpoint all read the same recorded field list (see
``describe/NOTICE``), so the sandbox never accepts a field, length or picklist value that a real
org would refuse, and the adapter's describe-driven mapping sees every attribute Salesforce sends.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DESCRIBE_DIR = Path(__file__).with_name("describe")
SOBJECTS = ("Lead", "Contact")

# What If-Modified-Since is compared with: the metadata never changes while a sandbox runs, so a
# fixed instant (the Winter '27 release the sandbox emulates) stands in for "last schema change".
DESCRIBE_LAST_MODIFIED = datetime(2026, 10, 10, 0, 0, 0, tzinfo=UTC)

STRING_TYPES = frozenset(
    {
        "string",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "textarea",
        "id",
        "reference",
        "combobox",
    }
)
NUMBER_TYPES = frozenset({"double", "int", "currency", "percent", "long"})


@dataclass(frozen=True)
class FieldInfo:
    """One ``fields[]`` entry of a describe, with the attributes the rules need pulled out."""

    name: str
    label: str
    type: str
    length: int
    nillable: bool
    createable: bool
    updateable: bool
    defaulted_on_create: bool
    id_lookup: bool
    external_id: bool
    restricted_picklist: bool
    picklist_values: tuple[str, ...]
    default_value: Any
    compound_field_name: str | None

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> FieldInfo:
        active = tuple(p["value"] for p in raw.get("picklistValues") or [] if p.get("active"))
        return cls(
            name=raw["name"],
            label=raw["label"],
            type=raw["type"],
            length=int(raw.get("length") or 0),
            nillable=bool(raw["nillable"]),
            createable=bool(raw["createable"]),
            updateable=bool(raw["updateable"]),
            defaulted_on_create=bool(raw["defaultedOnCreate"]),
            id_lookup=bool(raw.get("idLookup")),
            external_id=bool(raw.get("externalId")),
            restricted_picklist=bool(raw.get("restrictedPicklist")),
            picklist_values=active,
            default_value=raw.get("defaultValue"),
            compound_field_name=raw.get("compoundFieldName"),
        )

    @property
    def required_on_create(self) -> bool:
        """Salesforce's own rule: not nillable, createable, and not given a value by the platform."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def is_string(self) -> bool:
        return self.type in STRING_TYPES

    @property
    def is_number(self) -> bool:
        return self.type in NUMBER_TYPES


class SObjectSchema:
    """One object's describe: field lookup is case-insensitive, as the API's is."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.name: str = raw["name"]
        self.label: str = raw["label"]
        self.key_prefix: str = raw["keyPrefix"]
        self.fields: dict[str, FieldInfo] = {}
        for f in raw["fields"]:
            info = FieldInfo.from_describe(f)
            self.fields[info.name] = info
        self._by_lower = {name.lower(): info for name, info in self.fields.items()}
        self.required_on_create: tuple[str, ...] = tuple(
            f.name for f in self.fields.values() if f.required_on_create
        )
        self.lookup_fields: tuple[str, ...] = tuple(
            f.name for f in self.fields.values() if f.id_lookup or f.external_id
        )

    def field(self, name: str) -> FieldInfo | None:
        return self._by_lower.get(name.lower())

    def compound_parts(self, compound: str) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.compound_field_name == compound]

    def describe_body(self, version: str, base_url: str) -> dict[str, Any]:
        """The recorded describe with its ``urls`` pointed at this sandbox and API version."""
        body = copy.deepcopy(self.raw)
        body["urls"] = self.urls(version, base_url)
        for info in body.get("recordTypeInfos") or []:
            layout = info.get("urls", {}).get("layout")
            if layout:
                info["urls"]["layout"] = _rewrite(layout, version, base_url)
        return body

    def urls(self, version: str, base_url: str) -> dict[str, str]:
        return {k: _rewrite(v, version, base_url) for k, v in self.raw["urls"].items()}

    def summary(self, version: str, base_url: str) -> dict[str, Any]:
        """The entry of this object in the global describe (``GET …/sobjects``)."""
        keys = (
            "activateable", "createable", "custom", "customSetting", "deepCloneable", "deletable",
            "deprecatedAndHidden", "feedEnabled", "hasSubtypes", "isInterface", "isSubtype", "keyPrefix",
            "label", "labelPlural", "layoutable", "mergeable", "mruEnabled", "name", "queryable",
            "replicateable", "retrieveable", "searchable", "triggerable", "undeletable", "updateable",
        )  # fmt: skip
        out: dict[str, Any] = {k: self.raw.get(k) for k in keys}
        out["associateEntityType"] = self.raw.get("associateEntityType")
        out["associateParentEntity"] = self.raw.get("associateParentEntity")
        urls = self.urls(version, base_url)
        out["urls"] = {
            "rowTemplate": urls["rowTemplate"],
            "defaultValues": f"{urls['sobject']}/defaultValues?recordTypeId&fields",
            "describe": urls["describe"],
            "sobject": urls["sobject"],
        }
        return out


def _rewrite(url: str, version: str, base_url: str) -> str:
    """Point a recorded URL at this sandbox: any ``/services/data/vNN.N`` and any org host."""
    if "/services/data/v" in url:
        head, _, tail = url.partition("/services/data/v")
        rest = tail.split("/", 1)[1] if "/" in tail else ""
        url = f"{head}/services/data/v{version}/{rest}".rstrip("/")
        if head:
            url = base_url + url[len(head) :]
        return url
    if url.startswith("https://"):
        path = url.split("/", 3)[3] if url.count("/") >= 3 else ""
        return f"{base_url}/{path}"
    return url


@cache
def load_schemas() -> dict[str, SObjectSchema]:
    """Parsed once per process: the files are ~100 KB each and never change."""
    out: dict[str, SObjectSchema] = {}
    for name in SOBJECTS:
        raw = json.loads((DESCRIBE_DIR / f"describe_{name}.json").read_text(encoding="utf-8"))
        out[name] = SObjectSchema(raw)
    return out


def schema_for(name: str) -> SObjectSchema | None:
    """Object names are case-insensitive in URLs and SOQL (``lead`` is ``Lead``)."""
    for key, schema in load_schemas().items():
        if key.lower() == name.lower():
            return schema
    return None
