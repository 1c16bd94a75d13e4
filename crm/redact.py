"""Keep secrets out of logs, messages and error bodies.

Every token or client secret that enters the process is registered here (token sources do it), and the
log record factory installed by :func:`install_log_redaction` masks any registered secret in every log
message, whichever library logs it (httpx logs URLs, and a HubSpot token-info URL carries the token).
"""

from __future__ import annotations

import logging
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False
MIN_SECRET_LENGTH = 8  # shorter values are too likely to occur by chance to be worth masking
MASK = "••••"
MASK_MIN_LENGTH = 12  # below this, even 4 characters say too much about a secret


def mask(secret: str | None) -> str:
    """A display form showing at most the last 4 characters (nothing of a short secret)."""
    if not secret:
        return ""
    if len(secret) < MASK_MIN_LENGTH:
        return MASK
    return MASK + secret[-4:]


def register(*secrets: str | None) -> None:
    """Remember secrets so they are masked wherever they would be logged or shown."""
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)


def redact(text: str) -> str:
    """``text`` with every registered secret masked."""
    if not text or not _secrets:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, mask(secret))
    return text


def install_log_redaction() -> None:
    """Mask registered secrets in every log record from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        if _secrets:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
