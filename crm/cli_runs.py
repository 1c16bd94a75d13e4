"""``python -m crm push | resume | status | history``: headless and scheduled pushes.

An entry point like a page: it imports the service layer (lazily, so ``python -m crm sandbox`` starts
without a database). Runs are recorded in the database exactly like the app's.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from crm.cli_common import UsageError, app_context, emit, progress_printer, provider_choice

TIERS = ("HOT", "WARM", "COOL")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("push", help="push a campaign or a CSV file to a CRM")
    p.add_argument("provider", choices=provider_choice())
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="a CSV or XLSX file, imported like the app does")
    source.add_argument("--campaign", help="a campaign name or id")
    p.add_argument(
        "--object", default=None, choices=("Lead", "Contact"), help="Salesforce object (default Lead)"
    )
    p.add_argument("--min-score", type=int, default=None, help="only leads scoring at least this")
    p.add_argument(
        "--tier", action="append", type=str.upper, choices=TIERS, help="only these tiers (repeatable)"
    )
    p.add_argument("--mapping", type=Path, help="a mapping JSON file (default: the provider's defaults)")
    p.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a constant custom field"
    )
    p.add_argument("--mode", default="upsert", choices=("upsert", "create-only", "update-only"))
    p.add_argument("--dry-run", action="store_true", help="look up and validate, write nothing")
    p.add_argument(
        "--force-full", action="store_true", help="send rows even when unchanged since the last push"
    )
    p.add_argument(
        "--connection", help="a saved connection's name (default: credentials from the environment)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=push)

    r = sub.add_parser("resume", help="finish an interrupted run")
    r.add_argument("run_id", type=int)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=resume)

    s = sub.add_parser("status", help="check a run's records against the CRM")
    s.add_argument("provider", choices=provider_choice())
    s.add_argument("--run", type=int, required=True, dest="run_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=status)

    h = sub.add_parser("history", help="list runs, newest first")
    h.add_argument("--limit", type=int, default=50)
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=history)


def _mapping(args: argparse.Namespace, provider: str, object_name: str) -> Any:
    from crm.mapping import FieldMapping, MappingError, default_mapping, parse_mapping

    try:
        if args.mapping:
            try:
                text = args.mapping.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read the mapping file {args.mapping}: {exc}") from None
            mapping = parse_mapping(text)
        else:
            mapping = default_mapping(provider, object_name)
    except MappingError as exc:
        raise UsageError(str(exc)) from None
    constants = dict(mapping.constants)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set takes FIELD=VALUE, not {item!r}")
        constants[name.strip()] = value
    return FieldMapping(mapping.fields, mapping.value_maps, constants)


def _passes(row: dict[str, Any], args: argparse.Namespace) -> bool:
    score = row.get("score")
    if args.min_score is not None and (score is None or score != score or score < args.min_score):
        return False
    return not (args.tier and row.get("tier") not in args.tier)


def _csv_rows(
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[tuple[int, str | None, str, str]], str]:
    from data.lead_import import ImportRefused, prepare, read_table
    from service.runs import FILTERED

    try:
        data = args.csv.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.csv}: {exc.strerror or exc}") from None
    try:
        parsed = read_table(data, args.csv.name)
    except ImportRefused as exc:
        raise UsageError(str(exc)) from None
    prepared = prepare(parsed, parsed.column_map)
    refused = [(p.row, p.email, p.code, p.message) for p in prepared.problems]
    rows = []
    for lead in prepared.leads:
        if _passes(lead, args):
            rows.append(lead)
        else:
            refused.append(
                (lead["row_number"], lead.get("email"), FILTERED, "Left out by --min-score/--tier.")
            )
    return rows, refused, args.csv.name


def _campaign_rows(ctx: Any, args: argparse.Namespace) -> tuple[list[dict[str, Any]], int, str]:
    from data.leads import get_campaign_by_name_or_id, leads_frame

    with ctx.db.session() as session:
        campaign = get_campaign_by_name_or_id(session, args.campaign)
        if campaign is None:
            raise UsageError(f"no campaign named or numbered {args.campaign!r}")
        frame = leads_frame(session, campaign.id)
    rows = [{**r, "lead_id": r.get("id")} for r in frame.to_dict("records")]
    return [r for r in rows if _passes(r, args)], campaign.id, campaign.name


def push(args: argparse.Namespace) -> int:
    from crm.model import PushMode
    from data.runs import RunLocked
    from service import adapters, connections, runs
    from service.auth import Actor

    provider = args.provider
    object_name = "contacts" if provider == "hubspot" else (args.object or "Lead")
    if provider == "hubspot" and args.object:
        raise UsageError("--object applies to Salesforce only")
    mapping = _mapping(args, provider, object_name)
    ctx = app_context()
    if args.connection and connections.get(ctx, args.connection) is None:
        raise UsageError(f"no saved connection named {args.connection!r}")
    campaign_id = None
    refused: list[tuple[int, str | None, str, str]] = []
    if args.csv:  # read (and refuse) the input before anything is saved
        rows, refused, label = _csv_rows(args)
    else:
        rows, campaign_id, label = _campaign_rows(ctx, args)
    conn_name = args.connection or adapters.env_connection(ctx, provider).name
    request = runs.PushRequest(
        provider=provider,
        object_name=object_name,
        rows=rows,
        connection_name=conn_name,
        mapping=mapping,
        source_label=label,
        actor=Actor(f"cli:{getpass.getuser()}", "admin"),
        mode=PushMode(args.mode),
        dry_run=args.dry_run,
        force_full=args.force_full,
        campaign_id=campaign_id,
        filters={"min_score": args.min_score, "tiers": args.tier or []},
        refused=refused,
    )
    try:
        run_id = runs.create(ctx, request)
    except RunLocked as exc:  # the same push is already running (another shell, the app, a cron job)
        raise UsageError(str(exc)) from None
    runs.execute(ctx, run_id, on_progress=None if args.json else progress_printer())
    return _report(ctx, run_id, args.json)


def _report(ctx: Any, run_id: int, as_json: bool) -> int:
    from data import runs as store

    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        failed, _ = store.run_records(session, run_id, action="failed")
    if run is None:
        raise SystemExit(f"run {run_id} not found")
    errors = [
        {
            "row": (r.row or {}).get("row_number", r.row_index),
            "email": r.email,
            "code": r.error_code,
            "message": r.error_message,
        }
        for r in failed
    ]
    summary = {
        "run_id": run.id,
        "provider": run.provider,
        "object": run.object_name,
        "dry_run": run.dry_run,
        "state": run.state,
        "total": run.total,
        "created": run.created,
        "updated": run.updated,
        "skipped": run.skipped,
        "failed": run.failed,
        "api_calls": run.api_calls,
        "seconds": round(run.seconds, 3),
        "errors": errors,
    }
    if as_json:
        emit(summary)
    else:
        verb = "Dry run" if run.dry_run else "Push"
        print(f"\n{verb} #{run.id} to {run.provider} {run.object_name}: {run.state}")
        print(
            f"  total {run.total}  created {run.created}  updated {run.updated}  skipped {run.skipped}  "
            f"failed {run.failed}  ({run.api_calls} API calls, {run.seconds:.1f} s)"
        )
        for e in errors[:20]:
            print(f"  row {e['row']} {e['email'] or ''}: {e['code']}: {e['message']}")
        if len(errors) > 20:
            print(f"  … and {len(errors) - 20} more failed rows (see `python -m crm history --json`)")
        if run.error_message:
            print(f"  {run.error_message}")
    return 0 if run.failed == 0 and run.state in ("completed", "partial") else 1


def resume(args: argparse.Namespace) -> int:
    from data.runs import RunLocked
    from service import runs

    ctx = app_context()
    try:
        runs.resume(ctx, args.run_id, on_progress=None if args.json else progress_printer())
    except (ValueError, RunLocked) as exc:
        raise UsageError(str(exc)) from None
    return _report(ctx, args.run_id, args.json)


def status(args: argparse.Namespace) -> int:
    from data import runs as store
    from service import status as status_check

    ctx = app_context()
    with ctx.db.session() as session:
        run = store.get_run(session, args.run_id)
    if run is None or run.provider != args.provider:
        raise UsageError(f"no {args.provider} run #{args.run_id}")
    result = status_check.check(ctx, args.run_id)
    out = {
        "run_id": args.run_id,
        "checked": result.checked,
        "by_state": result.by_state,
        "changed": result.changed,
    }
    if args.json:
        emit(out)
    else:
        states = ", ".join(f"{k} {v}" for k, v in sorted(result.by_state.items())) or "nothing to check"
        changed = f"{result.changed} changed since the push"
        print(f"Run #{args.run_id}: {result.checked} records checked: {states}; {changed}")
    return 0


def history(args: argparse.Namespace) -> int:
    from data import runs as store
    from service import runs

    ctx = app_context()
    runs.reap(ctx)
    with ctx.db.session() as session:
        items, _ = store.list_runs(session, limit=args.limit)
    rows = [
        {
            "id": r.id,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "provider": r.provider,
            "object": r.object_name,
            "campaign": r.source_label,
            "state": r.state,
            "dry_run": r.dry_run,
            "total": r.total,
            "created": r.created,
            "updated": r.updated,
            "skipped": r.skipped,
            "failed": r.failed,
        }
        for r in items
    ]
    if args.json:
        emit(rows)
    else:
        for r in rows:
            mode = " (dry run)" if r["dry_run"] else ""
            sys.stdout.write(
                f"#{r['id']:<5} {r['started_at'][:19]}  {r['provider']:<10} {r['state']:<11} "
                f"{r['campaign'][:30]:<30} {r['total']:>7} rows{mode}\n"
            )
    return 0
