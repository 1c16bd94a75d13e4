"""Push: campaign → editable leads → filters → mapping → dry run → push, with results to act on."""

from __future__ import annotations

import streamlit as st

from ui import push_leads, push_mapping, push_results, push_run, push_source, push_table, services
from ui import push_state as keys
from ui.auth import current_actor
from ui.widgets import count

actor = current_actor()
ctx = services.context()
st.title("Push")
st.caption("Pick a campaign and a CRM, fix what the checks find, try it in test mode, then push.")
keys.show_flashes()
push_leads.absorb_editor_state()  # first: everything below sees an edit made just now

source = push_source.pick(ctx)
if source is None:
    st.stop()
fields = push_mapping.crm_fields(ctx, source)
if fields is None:
    st.stop()
campaign = source.campaign
run = push_run.attached_run(ctx, source.target)
found = push_results.results(ctx, source, run) if run is not None else None
by_lead = found[1] if found is not None else None
failed_ids = by_lead.index[by_lead["action"] == "failed"].tolist() if by_lead is not None else []

mapping_state = push_mapping.editor(ctx, actor, source, fields)
base = push_leads.campaign_frame(ctx, campaign)
filters = push_leads.filters_bar(base, run.id if run is not None and failed_ids else None)
leads = push_leads.build(ctx, campaign, mapping_state.mapping, fields, filters, failed_ids)

push_table.counts_bar(leads, campaign)
outcome_title = "Test result" if run is not None and run.dry_run else "Last push"
push_table.editor(leads, campaign, by_lead, outcome_title)
push_table.edits_bar(ctx, campaign)

st.subheader("Test and push")
blocked = None
if run is not None and run.active:
    blocked = (
        f"Run #{run.id} of this campaign is under way (started by {run.created_by}); see its progress below."
    )
elif mapping_state.check.blocking:
    blocked = "Fix the field mapping first: the CRM would refuse every row (see above)."
elif "email" not in mapping_state.mapping.fields:
    blocked = "Map the lead's email to a CRM field first: records are matched by it."
elif not leads.counts.rows:
    blocked = "No rows to push: loosen the filters, or tick Push on some rows."
plan = push_run.Plan(
    target=source.target,
    campaign=campaign,
    ids=leads.push_ids,
    mapping=mapping_state.mapping,
    filters=filters.record(leads.excluded, leads.edited),
    signature=leads.signature,
    counts=leads.counts,
)
push_run.controls(ctx, actor, source, plan, blocked)

if run is not None:
    if run.active:
        push_run.progress(ctx, run.id)
    else:
        signature = keys.bucket(keys.SIGNATURES).get(run.id)
        push_results.section(ctx, actor, source, run, stale=signature not in (None, leads.signature))
elif leads.counts.failing:
    st.caption(f"{count(leads.counts.failing, 'row')} would fail the checks: see the Problems column.")
