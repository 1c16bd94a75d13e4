"""The Push page's mapping editor: lead field → CRM field, tier values, custom fields, HubSpot properties.

The CRM fields come from the adapter (``fields()``: label, API name, required, picklist values), cached
for a few minutes per connection and object. The mapping lives in session state per provider and object,
starting from the one last pushed with (``data.prefs``) or the defaults; widgets write back into it, so
switching provider and back keeps the analyst's choices. It is remembered for next time when a push or
dry run starts (:func:`service.push_mapping.remember`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import streamlit as st

from crm.errors import CRMError
from crm.mapping import HUBSPOT_SCORE_PROPERTIES, TIERS, FieldMapping
from crm.model import FieldDef
from data.lead_columns import LEAD_FIELDS
from data.lead_values import LABELS
from service import push_mapping
from service.adapters import adapter_for
from service.auth import Actor, PermissionDenied
from service.connections import explain
from service.context import AppContext
from ui import auth
from ui import push_state as keys
from ui.push_source import Source
from ui.widgets import plain

FIELDS_TTL_SECONDS = 300
NOT_SENT = ""


@st.cache_data(ttl=FIELDS_TTL_SECONDS, max_entries=16, show_spinner="Reading the CRM's fields…")
def _fields(
    database_url: str, connection_name: str, updated_at: datetime | None, object_name: str, _ctx: AppContext
) -> list[FieldDef]:
    # The URL, name and last change of the connection key the cache: a reconnect reads them again.
    adapter = adapter_for(_ctx, connection_name, object_name)
    try:
        return adapter.fields()
    finally:
        adapter.close()


def crm_fields(ctx: AppContext, source: Source) -> list[FieldDef] | None:
    """The object's fields, or None after explaining why the CRM could not be asked."""
    conn = source.connection
    try:
        return _fields(str(ctx.db.url), conn.name, conn.updated_at, source.target.object_name, ctx)
    except CRMError as exc:
        st.error(
            f"Could not read the fields of {source.provider_label}: {plain(explain(exc, conn.provider))} "
            "Check the connection on the Providers page.",
            icon=":material/error:",
        )
        return None


def forget_fields() -> None:
    _fields.clear()


def _widget(source: Source, part: str) -> str:
    return f"push_map_{source.target.provider}_{source.target.object_name}_{part}"


def _stored(ctx: AppContext, source: Source, fields: Sequence[FieldDef]) -> dict[str, Any]:
    """This provider and object's mapping in session state (JSON form), loaded on first use from the
    last one pushed with, else the defaults."""
    mappings = keys.bucket(keys.MAPPINGS)
    key = keys.mapping_key(source.target.provider, source.target.object_name)
    if key not in mappings:
        provider, object_name = source.target.provider, source.target.object_name
        found = push_mapping.remembered(ctx, provider, object_name)
        mappings[key] = (found or push_mapping.defaults(provider, object_name, fields)).to_json()
        _set_widgets(source, mappings[key])
    return mappings[key]  # type: ignore[no-any-return]


def _set_widgets(source: Source, mapping: dict[str, Any]) -> None:
    """Point every widget of the editor at ``mapping`` (callbacks only: before the widgets exist)."""
    for lead_field in LEAD_FIELDS:
        st.session_state[_widget(source, lead_field)] = mapping["fields"].get(lead_field, NOT_SENT)
    tier_map = mapping.get("value_maps", {}).get("tier", {})
    for tier in TIERS:
        st.session_state[_widget(source, f"tier_{tier}")] = tier_map.get(tier, tier)
    rows = [
        {"id": index, "key": key, "value": value}
        for index, (key, value) in enumerate(mapping.get("constants", {}).items())
    ]
    keys.bucket(keys.CUSTOM_ROWS)[keys.mapping_key(source.target.provider, source.target.object_name)] = rows
    for row in rows:
        st.session_state[_widget(source, f"custom_{row['id']}_key")] = row["key"]
        st.session_state[_widget(source, f"custom_{row['id']}_value")] = row["value"]


def _reset(source: Source, fields: Sequence[FieldDef]) -> None:
    mapping = push_mapping.defaults(source.target.provider, source.target.object_name, fields).to_json()
    keys.bucket(keys.MAPPINGS)[keys.mapping_key(source.target.provider, source.target.object_name)] = mapping
    _set_widgets(source, mapping)


def _option_label(fields_by_name: dict[str, FieldDef]) -> Any:
    def label(name: str) -> str:
        if name == NOT_SENT:
            return "— not sent —"
        fd = fields_by_name.get(name)
        if fd is None:
            return f"{name} (not in the CRM)"
        return f"{fd.label} ({fd.name})" + (" · required" if fd.required else "")

    return label


@dataclass(frozen=True)
class MappingState:
    mapping: FieldMapping
    check: push_mapping.MappingCheck


def _sync(source: Source, stored: dict[str, Any]) -> None:
    """Take the editor's widget values (as this rerun received them) into the stored mapping, so the
    expander's title, the checks and the table all see a change made just now."""
    fields_ = dict(stored.get("fields", {}))
    for lead_field in LEAD_FIELDS:
        key = _widget(source, lead_field)
        if key in st.session_state:
            fields_[lead_field] = st.session_state[key] or NOT_SENT
    stored["fields"] = {k: v for k, v in fields_.items() if v}
    tier_map = dict(stored.get("value_maps", {}).get("tier", {}))
    for tier in TIERS:
        key = _widget(source, f"tier_{tier}")
        if key in st.session_state:
            tier_map[tier] = str(st.session_state[key]).strip()
    value_maps = {k: v for k, v in stored.get("value_maps", {}).items() if k != "tier"}
    if "tier" in stored["fields"] and any(ours != theirs for ours, theirs in tier_map.items()):
        value_maps["tier"] = tier_map
    stored["value_maps"] = value_maps
    rows = _custom_rows(source, stored)
    for row in rows:
        for part in ("key", "value"):
            key = _widget(source, f"custom_{row['id']}_{part}")
            if key in st.session_state:
                row[part] = str(st.session_state[key]).strip()
    stored["constants"] = {row["key"]: row["value"] for row in rows if row["key"]}


def _custom_rows(source: Source, stored: dict[str, Any]) -> list[dict[str, Any]]:
    return keys.bucket(keys.CUSTOM_ROWS).setdefault(  # type: ignore[no-any-return]
        keys.mapping_key(source.target.provider, source.target.object_name),
        [{"id": i, "key": k, "value": v} for i, (k, v) in enumerate(stored.get("constants", {}).items())],
    )


def editor(ctx: AppContext, actor: Actor, source: Source, fields: Sequence[FieldDef]) -> MappingState:
    """The mapping expander; returns the mapping as edited and what is wrong with it."""
    stored = _stored(ctx, source, fields)
    _sync(source, stored)
    mapping = parse_stored(stored)
    check = push_mapping.check(mapping, fields, source.target.object_name)
    title = f"Field mapping: {len(mapping.crm_fields())} fields to {source.provider_label} "
    title += source.target.object_name
    if check.problems:
        title += f" ({len(check.problems)} to look at)"
    with st.expander(title, expanded=bool(check.blocking), icon=":material/swap_horiz:"):
        _field_rows(source, fields, stored)
        _tier_values(source, fields, stored)
        _custom_fields(source, stored)
        reset, _ = st.columns([1, 3])
        reset.button(
            "Reset to defaults", key=_widget(source, "reset"), icon=":material/restart_alt:",
            on_click=_reset, args=(source, fields),
        )  # fmt: skip
        if source.target.provider == "hubspot":
            _score_properties(ctx, actor, source, fields)
    for problem in check.blocking:
        st.error(plain(problem.message, max_chars=400), icon=":material/block:")
    for problem in check.warnings:
        st.warning(plain(problem.message, max_chars=400))
    return MappingState(mapping, check)


def parse_stored(stored: dict[str, Any]) -> FieldMapping:
    return FieldMapping(
        {k: v for k, v in stored.get("fields", {}).items() if v},
        {k: dict(v) for k, v in stored.get("value_maps", {}).items()},
        {k: v for k, v in stored.get("constants", {}).items() if k},
    )


def _field_rows(source: Source, fields: Sequence[FieldDef], stored: dict[str, Any]) -> None:
    writable = sorted((fd for fd in fields if not fd.read_only), key=lambda fd: fd.label.lower())
    by_name = {fd.name: fd for fd in fields}
    st.caption("Each lead field goes to the CRM field chosen here; required CRM fields are marked.")
    columns = st.columns(3)
    for position, lead_field in enumerate(LEAD_FIELDS):
        current = stored["fields"].get(lead_field, NOT_SENT)
        options = [NOT_SENT, *(fd.name for fd in writable)]
        if current not in options:
            options.append(current)  # an unknown field stays visible, and check_mapping says so
        key = _widget(source, lead_field)
        st.session_state[key] = current
        columns[position % 3].selectbox(
            LABELS[lead_field], options, key=key, format_func=_option_label(by_name)
        )


def _tier_values(source: Source, fields: Sequence[FieldDef], stored: dict[str, Any]) -> None:
    """Our tiers → the CRM's values (Salesforce's Rating picklist: Hot, Warm, Cold by default)."""
    target = stored["fields"].get("tier")
    if not target:
        return
    fd = next((f for f in fields if f.name == target), None)
    current = stored["value_maps"].get("tier", {})
    st.markdown(f"**Tier values** sent to {plain(fd.label if fd else target)}")
    for box, tier in zip(st.columns(len(TIERS)), TIERS, strict=True):
        key = _widget(source, f"tier_{tier}")
        value = current.get(tier, tier)
        st.session_state[key] = value
        if fd is not None and fd.options:
            box.selectbox(tier.title(), list(dict.fromkeys([*fd.options, value])), key=key)
        else:
            box.text_input(tier.title(), key=key)


def _custom_fields(source: Source, stored: dict[str, Any]) -> None:
    """Constant values for CRM fields (e.g. LeadSource = Trade fair), one key/value row each."""
    rows = _custom_rows(source, stored)
    st.markdown("**Custom fields**: the same value on every pushed record")
    for row in rows:
        name_box, value_box, remove_box = st.columns([3, 3, 1], vertical_alignment="bottom")
        name_key = _widget(source, f"custom_{row['id']}_key")
        value_key = _widget(source, f"custom_{row['id']}_value")
        st.session_state[name_key], st.session_state[value_key] = row["key"], row["value"]
        name_box.text_input("CRM field (API name)", key=name_key)
        value_box.text_input("Value", key=value_key)
        remove_box.button(
            "Remove", key=_widget(source, f"custom_{row['id']}_remove"), on_click=_remove_row,
            args=(rows, row["id"]),
        )  # fmt: skip
    st.button(
        "Add field", key=_widget(source, "custom_add"), icon=":material/add:", on_click=_add_row, args=(rows,)
    )


def _add_row(rows: list[dict[str, Any]]) -> None:
    rows.append({"id": max((row["id"] for row in rows), default=-1) + 1, "key": "", "value": ""})


def _remove_row(rows: list[dict[str, Any]], row_id: int) -> None:
    rows[:] = [row for row in rows if row["id"] != row_id]


def _score_properties(ctx: AppContext, actor: Actor, source: Source, fields: Sequence[FieldDef]) -> None:
    missing = push_mapping.missing_score_properties(fields)
    if not missing:
        return
    names = ", ".join(HUBSPOT_SCORE_PROPERTIES[lead]["name"] for lead in missing)
    st.info(
        f"HubSpot has no property for the lead's {' and '.join(missing)} yet ({names}), so "
        f"{'they are' if len(missing) > 1 else 'it is'} not sent.",
        icon=":material/info:",
    )
    if auth.require_admin("create HubSpot properties") is None:
        st.caption("Ask an admin to create them here, or push without score and tier.")
        return
    st.button(
        "Create the score and tier properties in HubSpot",
        key="push_create_properties",
        icon=":material/add_circle:",
        on_click=_create_properties,
        args=(ctx, actor, source, missing),
    )


def _create_properties(ctx: AppContext, actor: Actor, source: Source, missing: Sequence[str]) -> None:
    try:
        created = push_mapping.create_score_properties(ctx, actor, missing)
    except PermissionDenied as exc:
        keys.flash("error", plain(str(exc)))
        return
    except CRMError as exc:
        keys.flash("error", f"HubSpot did not create the properties: {plain(explain(exc, 'hubspot'))}")
        return
    forget_fields()
    stored = keys.bucket(keys.MAPPINGS).get(keys.mapping_key("hubspot", source.target.object_name))
    if stored is not None:
        for lead_field in missing:
            stored.setdefault("fields", {})[lead_field] = HUBSPOT_SCORE_PROPERTIES[lead_field]["name"]
            st.session_state[_widget(source, lead_field)] = HUBSPOT_SCORE_PROPERTIES[lead_field]["name"]
    keys.flash("success", f"Created {', '.join(plain(fd.label) for fd in created)} in HubSpot; mapped.")
