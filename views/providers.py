"""Providers: connect, test and disconnect HubSpot and Salesforce (or their sandboxes), see their status.

The default page, so an OAuth redirect back to the app's URL lands here and is finished first.
Analysts see the cards and can test a connection; only admins connect or disconnect.
"""

from __future__ import annotations

import streamlit as st

from ui import auth, providers_cards, providers_common, providers_forms, providers_oauth, services

actor = auth.current_actor()
ctx = services.context()
providers_oauth.handle_callback(ctx, actor)  # the redirect back from HubSpot or Salesforce, if this is one

st.title("Providers")
providers_cards.style()
st.write("Connect HubSpot or Salesforce (or their sandboxes), test a connection and see its status.")
providers_common.show("oauth")
admin = auth.require_admin("change connections")  # analysts: a note, and no forms below

saved = providers_cards.saved(ctx)
for column, provider in zip(st.columns(2, gap="medium"), providers_common.PROVIDERS, strict=True):
    with column:
        providers_cards.card(ctx, actor, provider, saved.get(provider))
        if admin is not None:
            providers_forms.connect_section(ctx, admin, provider, connected=provider in saved)

providers_cards.security_note()
