"""Session-state keys shared across modules, in one place so no two features collide.

Widget keys that belong to one page start with that page's name (``campaigns_…``, ``users_…``) and
live in the page's own module; the keys here are the app-wide ones.
"""

from __future__ import annotations

# Written by streamlit-authenticator 0.4.2 after a successful login (and by our first-admin form, which
# logs the new admin in the same way); cleared by its logout. Their names are the library's.
AUTH_STATUS = "authentication_status"
AUTH_USERNAME = "username"
AUTH_NAME = "name"
AUTH_EMAIL = "email"
AUTH_ROLES = "roles"
AUTH_LOGOUT = "logout"
AUTHENTICATOR_KEYS = (AUTH_STATUS, AUTH_USERNAME, AUTH_NAME, AUTH_EMAIL, AUTH_ROLES, AUTH_LOGOUT)

# Ours: the signed-in user as checked against the database on this run, and one-shot requests that a
# callback leaves for the script body (a component must render in the body to reach the browser).
SIGNED_IN = "auth_signed_in"
SET_COOKIE = "auth_set_cookie"
LOGOUT_REQUESTED = "auth_logout_requested"
FIRST_ADMIN_ERROR = "first_admin_error"
