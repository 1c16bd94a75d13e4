"""What the CLI commands share: the usage error, the app context, progress lines, JSON output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


class UsageError(Exception):
    """A bad argument or missing configuration: exit 2 with one line, no traceback."""


def provider_choice() -> tuple[str, ...]:
    return ("hubspot", "salesforce")


def app_context() -> Any:
    """The service layer's context (database migrated, demo data loaded once)."""
    from sqlalchemy.exc import SQLAlchemyError

    from crm.errors import CRMError
    from data.crypto import CryptoError
    from service.context import AppContext

    try:
        return AppContext.build()
    except (CRMError, CryptoError, ValueError, OSError) as exc:
        raise UsageError(f"cannot open the app's database or keys: {exc}") from None
    except SQLAlchemyError as exc:  # unreachable server, bad URL: one line, never a traceback
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise UsageError(f"cannot open the app's database: {reason}") from None


def emit(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()


def progress_printer(stream: Any = None) -> Callable[[Any], None]:
    """A progress line on stderr, redrawn at most 5 times a second."""
    out = stream or sys.stderr
    last = [0.0]

    def show(p: Any) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and p.done < p.total:
            return
        last[0] = now
        out.write(
            f"\r{p.done}/{p.total} rows  created {p.created}  updated {p.updated}  skipped {p.skipped}  "
            f"failed {p.failed}  {p.rate:,.0f} rows/s "
        )
        if p.done >= p.total:
            out.write("\n")
        out.flush()

    return show
