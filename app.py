"""CRM Push: the router and frame. Page config, the login gate, the sidebar, then the pages.

Run it with ``streamlit run app.py``. A logged-out session only ever gets the login (or first-admin)
form: no page runs until someone is logged in, and the Users page exists only for admins.
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from ui import auth, services, theme


def declared_pages(signed_in: auth.SignedIn | None) -> dict[str, list[StreamlitPage]]:
    """The pages by section; Users only for admins. A logged-out session gets them all declared but
    hidden and never run, so a bookmarked /campaigns survives the login instead of "page not found"."""
    admin = signed_in is None or signed_in.actor.is_admin
    return {
        "CRM": [
            st.Page("views/providers.py", title="Providers", icon=":material/hub:", default=True),
            st.Page("views/push.py", title="Push", icon=":material/send:"),
            st.Page("views/history.py", title="History", icon=":material/history:"),
        ],
        "Data": [st.Page("views/campaigns.py", title="Campaigns", icon=":material/campaign:")],
        **({"Admin": [st.Page("views/users.py", title="Users", icon=":material/group:")]} if admin else {}),
    }


st.set_page_config(
    page_title="CRM Push",
    page_icon=":material/cloud_upload:",
    layout="wide",
    initial_sidebar_state="expanded",
)
theme.apply()

try:
    ctx = services.context()
except services.ContextUnavailable as exc:
    st.error(str(exc), icon=":material/database:")
    ctx = None

signed_in = auth.gate(ctx) if ctx else None
# Always declared, even logged out, so a bookmarked page survives the login.
navigation = st.navigation(declared_pages(signed_in), position="sidebar" if signed_in else "hidden")
if signed_in is None:
    st.stop()  # the login form (or the error above) is all a logged-out session gets
auth.sidebar(signed_in)
navigation.run()
