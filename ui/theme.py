"""The little styling config.toml cannot express. Static markup only: never user data in here."""

from __future__ import annotations

import streamlit as st

# streamlit-authenticator keeps its login cookie through a custom component (an invisible iframe of
# height 0). Without this its empty element container would still push the page down by one gap.
_CSS = """
<style>
  div.element-container:has(iframe[height="0"]),
  div[data-testid="stElementContainer"]:has(iframe[height="0"]) { display: none; }
</style>
"""


def apply() -> None:
    """Inject the app-wide CSS (a style-only ``st.html`` takes no room on the page)."""
    st.html(_CSS)
