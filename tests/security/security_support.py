"""Helpers of the security tests (imported by name: pytest puts this folder on ``sys.path``).

* Recognisable fake credentials (:data:`HUBSPOT_CANARY`, :data:`SALESFORCE_CANARY`) whose distinctive
  middles (:data:`MIDDLES`) must never show up anywhere, whole or in part.
* :class:`LogCapture`: every record of every logger, DEBUG and up, formatted with its traceback.
* :func:`database_text`: every column of every row of every table (JSON columns included) as text.
* :func:`rendered`: every element an AppTest run sent to the browser, as serialized protobuf bytes
  (dataframes included: their Arrow data carries the cell text as UTF-8).
* :func:`table_counts`: rows per table, for "nothing changed" checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from data.db import Database
from data.models import Base

MIDDLES = ("LEAKCANARY", "SFSESSIONCANARY")
HUBSPOT_CANARY = "pat-na1-LEAKCANARY-7e57-4b0b-9caf-c0ffee001234"
SALESFORCE_CANARY = "00D5e0000001LEAK!AQ0AQ.SFSESSIONCANARY.q1w2e3r4t5y6u7i8o9p0zz99"
CANARIES = (HUBSPOT_CANARY, SALESFORCE_CANARY)


def leaks(text: str | bytes) -> list[str]:
    """The canaries (or their distinctive middles) found in ``text``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [part for part in (*CANARIES, *MIDDLES) if part.encode() in data]


class LogCapture(logging.Handler):
    """Collects every record of every logger at DEBUG: attached to the root and to each logger that
    does not propagate, with every logger's level lowered to DEBUG until :meth:`close`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._saved: list[tuple[logging.Logger, int, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def open(self) -> LogCapture:
        known = logging.root.manager.loggerDict.values()
        loggers = [logging.getLogger(), *(logger for logger in known if isinstance(logger, logging.Logger))]
        for name in ("httpx", "httpcore", "crm", "service", "data", "ui", "sqlalchemy.engine", "streamlit"):
            loggers.append(logging.getLogger(name))
        for logger in dict.fromkeys(loggers):
            attach = logger is logging.root or not logger.propagate
            self._saved.append((logger, logger.level, attach))
            logger.setLevel(logging.DEBUG)
            if attach:
                logger.addHandler(self)
        return self

    def close(self) -> None:
        for logger, level, attached in self._saved:
            logger.setLevel(level)
            if attached:
                logger.removeHandler(self)
        super().close()

    def text(self) -> str:
        return "\n".join(self.lines)


def database_text(db: Database) -> Iterator[tuple[str, str]]:
    """(``table.column``, value as text) for every non-null cell of every table."""
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None:
                        yield f"{table.name}.{column}", str(value)


def table_counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def nodes(at: AppTest) -> Iterator[Any]:
    """Every block and element of the last run of ``at``, depth first."""
    stack: list[Any] = [at._tree]
    while stack:
        node = stack.pop()
        yield node
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())


def rendered(at: AppTest) -> bytes:
    """Everything the last run sent to the browser, serialized (what a leak search must cover)."""
    parts = [node.proto.SerializeToString() for node in nodes(at) if getattr(node, "proto", None) is not None]
    return b"\n".join(parts)
