"""``python -m crm users | fields | worker``: administration from the server's shell."""

from __future__ import annotations

import argparse
import getpass
import sys

from crm.cli_common import UsageError, app_context, emit, provider_choice


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    u = sub.add_parser("users", help="manage login users")
    usub = u.add_subparsers(dest="users_command", required=True)
    add = usub.add_parser("add", help="add a user (the password is read from stdin, never from argv)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("admin", "analyst"))
    add.add_argument("--display-name", default=None)
    add.add_argument("--email", default=None)
    add.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    add.set_defaults(func=users_add)
    ls = usub.add_parser("list", help="list users")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=users_list)

    f = sub.add_parser("fields", help="list a CRM object's fields")
    f.add_argument("provider", choices=provider_choice())
    f.add_argument("--object", default=None, choices=("Lead", "Contact"))
    f.add_argument(
        "--connection", help="a saved connection's name (default: credentials from the environment)"
    )
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=fields)

    w = sub.add_parser("worker", help="run push jobs from the queue (needs CRM_QUEUE_URL)")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.set_defaults(func=worker)


def users_add(args: argparse.Namespace) -> int:
    from data import users

    # Typed at a terminal rather than piped: read it without echoing it on the screen.
    typed = sys.stdin.isatty()
    password = getpass.getpass("Password: ") if typed else sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("no password on stdin (pipe it in: `echo … | python -m crm users add …`)")
    ctx = app_context()
    try:
        with ctx.db.begin() as session:
            users.create_user(
                session,
                username=args.name,
                display_name=args.display_name or args.name,
                password=password,
                role=args.role,
                email=args.email,
            )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"added {args.role} {args.name}")
    return 0


def users_list(args: argparse.Namespace) -> int:
    from data import users

    ctx = app_context()
    with ctx.db.session() as session:
        items = [
            {"username": u.username, "display_name": u.display_name, "role": u.role}
            for u in users.list_users(session)
        ]
    if args.json:
        emit(items)
    else:
        for u in items:
            print(f"{u['username']:<24} {u['role']:<8} {u['display_name']}")
    return 0


def fields(args: argparse.Namespace) -> int:
    from crm.errors import CRMError
    from service import adapters, connections

    if args.provider == "hubspot" and args.object:
        raise UsageError("--object applies to Salesforce only")
    ctx = app_context()
    name = args.connection or adapters.env_connection(ctx, args.provider).name
    object_name = "contacts" if args.provider == "hubspot" else (args.object or "Lead")
    try:
        adapter = adapters.adapter_for(ctx, name, object_name)
        defs = adapter.fields(refresh=True)
    except CRMError as exc:
        raise UsageError(connections.explain(exc, args.provider)) from None
    rows = [
        {
            "name": d.name,
            "label": d.label,
            "type": d.type,
            "required": d.required,
            "read_only": d.read_only,
            "max_length": d.max_length,
            "options": list(d.options),
            "unique": d.unique,
        }
        for d in defs
    ]
    if args.json:
        emit(rows)
    else:
        for r in rows:
            flags = " ".join(
                f for f, on in (("required", r["required"]), ("read-only", r["read_only"])) if on
            )
            print(f"{r['name']:<32} {r['type']:<12} {r['label']:<32} {flags}")
    return 0


def worker(args: argparse.Namespace) -> int:
    ctx = app_context()
    if not ctx.settings.queue_url:
        raise UsageError("set CRM_QUEUE_URL=redis://… to run a queue worker")
    from service.queue import run_worker

    return run_worker(ctx, burst=args.burst)
