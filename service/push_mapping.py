"""The Push page's mapping: where it starts, what is wrong with it, and HubSpot's score and tier properties.

A mapping starts from the analyst's last one for the provider and object (``data.prefs``), else from the
defaults (``crm.mapping.default_mapping``), which on HubSpot also send score and tier once their custom
properties exist. Problems come from ``crm.validation.check_mapping``; the ones that make the engine
refuse every row before sending anything (an unknown or read-only field) block the push.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from crm.errors import NotConfigured
from crm.hubspot import HubSpotAdapter
from crm.mapping import (
    HUBSPOT_SCORE_PROPERTIES,
    TIERS,
    FieldMapping,
    MappingError,
    default_mapping,
    parse_mapping,
)
from crm.model import FieldDef
from crm.validation import Problem, check_mapping
from data import prefs
from service.adapters import adapter_for
from service.auth import Actor, require_admin
from service.context import AppContext

log = logging.getLogger("service.push_mapping")

# Problems after which the engine fails every row without sending (``RowValidator.unusable_fields``).
BLOCKING = frozenset({"UNKNOWN_FIELD", "READ_ONLY_FIELD"})
CREATE_PROPERTIES = "create HubSpot properties"
OBJECT_LABELS = {"contacts": "HubSpot contact", "Lead": "Salesforce Lead", "Contact": "Salesforce Contact"}


def defaults(provider: str, object_name: str, fields: Sequence[FieldDef]) -> FieldMapping:
    """The default mapping, plus HubSpot's score and tier properties when the portal has them."""
    base = default_mapping(provider, object_name)
    if provider != "hubspot":
        return base
    names = {fd.name for fd in fields}
    extra = {
        lead_field: spec["name"]
        for lead_field, spec in HUBSPOT_SCORE_PROPERTIES.items()
        if spec["name"] in names
    }
    value_maps = dict(base.value_maps)
    if "tier" in extra:
        value_maps["tier"] = {tier: tier for tier in TIERS}
    return FieldMapping({**base.fields, **extra}, value_maps, dict(base.constants))


def remembered(ctx: AppContext, provider: str, object_name: str) -> FieldMapping | None:
    """The last mapping pushed with for this provider and object, if it still parses."""
    with ctx.db.session() as session:
        raw = prefs.load_mapping_preset(session, provider, object_name)
    if raw is None:
        return None
    try:
        return parse_mapping(raw)
    except MappingError:
        log.warning("the remembered %s %s mapping does not parse; using the defaults", provider, object_name)
        return None


def remember(ctx: AppContext, actor: Actor, provider: str, object_name: str, mapping: FieldMapping) -> None:
    """Offer ``mapping`` first next time (called when a push or dry run starts with it)."""
    with ctx.db.begin() as session:
        prefs.save_mapping_preset(
            session, provider, object_name, mapping.to_json(), updated_by=actor.username
        )


@dataclass(frozen=True)
class MappingCheck:
    problems: tuple[Problem, ...]

    @property
    def blocking(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.code in BLOCKING)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.code not in BLOCKING)


def check(mapping: FieldMapping, fields: Sequence[FieldDef], object_name: str) -> MappingCheck:
    """``check_mapping``'s problems, plus lead fields that fight over one CRM field."""
    problems = list(check_mapping(mapping, fields, OBJECT_LABELS.get(object_name, object_name)))
    seen: dict[str, str] = {}
    for lead_field, crm_field in mapping.fields.items():
        if crm_field in seen:
            problems.append(
                Problem(
                    "mapping",
                    crm_field,
                    "SAME_TARGET",
                    f"{seen[crm_field]} and {lead_field} both go to '{crm_field}': where both have a value, "
                    f"{lead_field} is sent. Map one of them elsewhere if that is not what you want.",
                )
            )
        seen.setdefault(crm_field, lead_field)
    return MappingCheck(tuple(problems))


def missing_score_properties(fields: Sequence[FieldDef]) -> list[str]:
    """Lead fields (score, tier) whose HubSpot custom property does not exist yet."""
    names = {fd.name for fd in fields}
    return [lead for lead, spec in HUBSPOT_SCORE_PROPERTIES.items() if spec["name"] not in names]


def create_score_properties(ctx: AppContext, actor: Actor, lead_fields: Sequence[str]) -> list[FieldDef]:
    """Create HubSpot's custom properties for ``lead_fields`` (admins only); returns what was created.

    Raises ``PermissionDenied`` for an analyst, and ``CRMError`` when HubSpot refuses (e.g. a private app
    without the ``crm.schemas.contacts.write`` scope): :func:`service.connections.explain` words it.
    """
    require_admin(actor, CREATE_PROPERTIES)
    adapter = adapter_for(ctx, "hubspot", "contacts")
    try:
        if not isinstance(adapter, HubSpotAdapter):
            raise NotConfigured("Custom properties can only be created on a HubSpot connection.")
        return [adapter.create_property(HUBSPOT_SCORE_PROPERTIES[lead]) for lead in lead_fields]
    finally:
        adapter.close()
