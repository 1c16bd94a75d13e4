"""Markdown tables from a results JSON: ``python -m bench.report [results.json] [--readme]``.

``--readme`` rewrites the part of ``bench/README.md`` between the ``bench:results`` markers, so the
README's table always comes from one run's JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.run import RESULTS
from bench.sandboxes import ROOT

README = ROOT / "bench" / "README.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def _ok(value: bool | None) -> str:
    return "—" if value is None else ("✅" if value else "❌")


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return fmt.format(value) if isinstance(value, int | float) else "—"


def figures_table(measurements: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| measurement | runs | API calls | wall (median) | bound | wall ÷ bound | 429s "
        "| peak RSS (at start) | our CPU | sandbox CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        if m.get("error"):
            lines.append(f"| {m['id']} | {m['repeats']} | failed: {m['error'][:80]} |||||||| ")
            continue
        med, b = m["median"], m.get("bound") or {}
        if med.get("skipped"):
            lines.append(f"| {m['id']} | — | skipped: {med['note']} |||||||| ")
            continue
        bound_text = f"{b['bound_s']:.2f} s ({b['kind']})" if b else "—"
        lines.append(
            f"| {m['id']} | {m['repeats']} | {_num(med.get('calls'), '{:g}')} | {_num(med.get('wall_s'))} s "
            f"| {bound_text} | {_num(m.get('wall_over_bound'))} | {_num(med.get('throttled'), '{:g}')} "
            f"| {_num(med.get('rss_peak_mb'), '{:.0f}')} MB ({_num(med.get('rss_before_mb'), '{:.0f}')}) "
            f"| {_num(med.get('client_cpu_s'))} s "
            f"| {_num(med.get('sandbox_cpu_s'))} s |"
        )
    return lines


def h2_phases_table(measurements: list[dict[str, Any]]) -> list[str]:
    rows = [m for m in measurements if m["workload"] == "H2" and not m.get("error")]
    if not rows:
        return []
    lines = [
        "| H2 run | N | wall | create / execute | API calls | write calls "
        "| created / updated / skipped (unchanged) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        for name, p in m["median"]["phases"].items():
            lines.append(
                f"| {name} | {m['n']:,} | {p['wall_s']:.2f} s | {p['create_s']:.2f} / {p['execute_s']:.2f} s "
                f"| {p['calls']:g} | {p['write_calls']:g} | {p['created']:g} / {p['updated']:g} / "
                f"{p['skipped']:g} ({p['unchanged']:g}) |"
            )
    return lines


def targets_table(doc: dict[str, Any]) -> list[str]:
    lines = ["| measurement | target | measured | met |", "|---|---|---|:---:|"]
    for m in doc["measurements"]:
        for t in m.get("targets", []):
            lines.append(f"| {m['id']} | {t['target']} | {t['measured']} | {_ok(t['ok'])} |")
    for t in doc.get("cross_targets", []):
        lines.append(f"| (across runs) | {t['name']} | {t['measured']} | {_ok(t['ok'])} |")
    for c in doc.get("comparisons", []):
        if c["metric"] == "calls_per_lead":
            measured = (
                f"{c['ratio']:.0f}× ({c['peer_value']:.2f} vs {c['ours_value']:.3f} calls/lead; "
                f"wall {c['wall_ratio']:.0f}× faster)"
            )
        else:
            measured = f"{c['ratio']:.2f}× ({c['peer_value']:.2f} s vs {c['ours_value']:.2f} s)"
        lines.append(f"| {c['name']} | {c['target']} | {measured} | {_ok(c['ok'])} |")
    return lines


def render(doc: dict[str, Any]) -> str:
    machine = doc.get("machine", {})
    load = tuple(round(x, 1) for x in machine.get("load_avg_at_start", ()))
    head = (
        f"Run {doc['generated_at']}, `{doc['command']}`, profile `{doc['profile']['name']}` "
        f"({doc.get('duration_s', 0) / 60:.0f} min); {machine.get('cpus')} CPUs "
        f"({machine.get('cpu_model')}), load {load} "
        f"at start; commit {str(machine.get('git_commit', ''))[:10]}"
        f"{' + uncommitted changes' if machine.get('git_dirty') else ''}."
    )
    parts = [head, ""]
    for c in doc.get("calibration", []):
        parts.append(
            f"- One sequential call to the {c['vendor']} sandbox ({c['tier'] or 'default'}): "
            f"{c['round_trip_ms_median']:g} ms median round trip for {c['configured_latency_ms']:g} ms "
            f"configured latency (GET {c['path']}, {c['count']} calls)."
        )
    parts += ["", *figures_table(doc["measurements"]), ""]
    phases = h2_phases_table(doc["measurements"])
    if phases:
        parts += [*phases, ""]
    parts += targets_table(doc)
    return "\n".join(parts) + "\n"


def update_readme(text: str, readme: Path = README) -> None:
    content = readme.read_text(encoding="utf-8")
    before, _, rest = content.partition(START)
    _, _, after = rest.partition(END)
    readme.write_text(f"{before}{START}\n{text}{END}{after}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS)
    parser.add_argument("--readme", action="store_true", help="write the tables into bench/README.md")
    args = parser.parse_args()
    text = render(json.loads(args.results.read_text(encoding="utf-8")))
    if args.readme:
        update_readme(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
