"""One exception hierarchy for everything that can go wrong talking to a CRM.

Retriable errors are kept apart from fatal ones, so the retry policy in ``crm.http`` only ever sees the
retriable kind, and a fatal answer (a bad token, a bad field) is never hammered again::

    CRMError
    ├── RetriableError              worth another attempt, later
    │   ├── RateLimited             429 (and HubSpot's 423); carries retry_after seconds
    │   ├── ServerError             5xx
    │   └── NetworkError            timeout or dropped connection; ``maybe_committed`` if the
    │                               request was sent and the CRM may have acted on it
    └── FatalError                  the same request will fail the same way
        ├── AuthError               401: bad or expired credentials
        │   └── TokenExpired        the token expired; refresh and retry once
        ├── ForbiddenError          403: missing scope, API disabled
        ├── LimitExceeded           a daily allocation is used up: stop the run cleanly
        ├── NotFound                404
        ├── ValidationError         the CRM refused the input (400, 409, per-record errors)
        └── NotConfigured           credentials or settings are missing on our side

Every error carries the vendor's own ``code`` (``INVALID_EMAIL``, ``REQUIRED_FIELD_MISSING`` …), the HTTP
``status`` and ``url``, and a short ``body``. Bodies are stored already redacted (see ``crm.redact``) so an
error can be logged or shown without leaking a token.
"""

from __future__ import annotations


class CRMError(Exception):
    """Base of every CRM failure; ``str()`` is a message fit for an analyst."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        url: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.url = url
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class RetriableError(CRMError):
    """A transient failure: the same request may succeed later."""


class RateLimited(RetriableError):
    """The CRM throttled us; wait ``retry_after`` seconds before the next call."""

    def __init__(self, message: str, *, retry_after: float, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(RetriableError):
    """The CRM answered 5xx."""


class NetworkError(RetriableError):
    """No usable answer arrived (timeout, dropped connection).

    ``maybe_committed`` is true when the request left us, so a non-idempotent write may have happened.
    """

    def __init__(self, message: str, *, maybe_committed: bool = True, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.maybe_committed = maybe_committed


class FatalError(CRMError):
    """Retrying the same request cannot help."""


class AuthError(FatalError):
    """Credentials were refused (401)."""


class TokenExpired(AuthError):
    """The access token expired; a refresh and one retry may fix it."""


class ForbiddenError(FatalError):
    """Authenticated, but not allowed: a missing scope, the API disabled for the org (403)."""


class LimitExceeded(FatalError):
    """A daily API allocation is used up; the run must stop and record what it did not send."""


class NotFound(FatalError):
    """The record or resource does not exist (404)."""


class ValidationError(FatalError):
    """The CRM refused the data itself."""


class NotConfigured(FatalError):
    """Our side lacks credentials or settings; the message says what to configure."""


__all__ = [
    "AuthError",
    "CRMError",
    "FatalError",
    "ForbiddenError",
    "LimitExceeded",
    "NetworkError",
    "NotConfigured",
    "NotFound",
    "RateLimited",
    "RetriableError",
    "ServerError",
    "TokenExpired",
    "ValidationError",
]
