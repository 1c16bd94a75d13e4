"""The Streamlit glue: cached services, the login, session-state keys and shared widgets.

This is the only package besides ``app.py`` and ``views/`` that imports streamlit; it turns the
``service`` use cases into widgets and keeps the pages short.
"""
