"""``python -m crm``: headless pushes, history, status checks, users and the sandboxes.

Credentials come from the environment or a saved connection, never from argv. Exit codes: 0 all rows
succeeded, 1 some rows failed, 2 a usage or configuration error (one line on stderr, no traceback).

This is an entry point, like a page: the one part of ``crm`` that uses the service layer, and only
inside the commands that need a database.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from crm import cli_admin, cli_runs, cli_sandbox
from crm.cli_common import UsageError
from crm.errors import CRMError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(_without_values(message))


def _without_values(message: str) -> str:
    """argparse echoes unrecognised arguments: keep the option names only, so a token typed on the
    command line by mistake is not repeated into logs."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    words = message[len(prefix) :].split(" ")
    return prefix + " ".join(w.split("=", 1)[0] if w.startswith("-") else "…" for w in words)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m crm", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cli_runs.add_parsers(sub)
    cli_admin.add_parsers(sub)
    cli_sandbox.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("CRM_LOG_LEVEL", "WARNING").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from crm.redact import install_log_redaction

    install_log_redaction()
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except (UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CRMError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
