"""Demo campaigns for a first run and for sales demos, loaded once per installation.

The CSV files are shaped like real exports, so loading them goes through the same path as an upload:
a HubSpot-style comma file, a German Excel export (semicolons, BOM, German headers, decimal commas,
Salesforce's Hot/Warm/Cold rating) and a webinar tool's attendee list (``Rating`` as a number). A few
leads carry the flaws real exports have: a missing last name, a missing company, tiers that disagree
with the score, and one invalid email address. That address is kept on purpose, so a demo push can show
validation; it is the only thing the strict import would refuse, hence ``strict_emails=False`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.models import AppFlag, Campaign

DEMO_DIR = Path(__file__).resolve().parent
# The AppFlag that records the demo load, so deleting the demo campaigns does not bring them back.
DEMO_FLAG = "demo_loaded"


@dataclass(frozen=True, slots=True)
class DemoCampaign:
    name: str
    filename: str


DEMO_CAMPAIGNS = (
    DemoCampaign("Demo: North America SaaS decision-makers", "na_saas_decision_makers.csv"),
    DemoCampaign("Demo: DACH manufacturing trade-fair leads", "dach_manufacturing.csv"),
    DemoCampaign("Demo: Fintech webinar attendees", "fintech_webinar_attendees.csv"),
)


def load_demo(session: Session) -> list[int]:
    """Load the demo campaigns unless they were loaded before; returns the new campaigns' ids.

    Runs in the caller's transaction. The flag is written first, under a savepoint: when two processes
    start at once, the second one's flag insert fails (after waiting, on PostgreSQL) and it loads nothing.
    A campaign name the analyst already uses is skipped rather than overwritten.
    """
    if session.get(AppFlag, DEMO_FLAG) is not None:
        return []
    flag = AppFlag(name=DEMO_FLAG, value="")
    try:
        with session.begin_nested():
            session.add(flag)
    except IntegrityError:
        return []
    # Imported here, not at the top: the importer pulls in pandas and openpyxl, and every CLI command
    # and app start calls load_demo, which after the first time returns above.
    from data.lead_import import import_campaign, prepare, read_table

    ids: list[int] = []
    for demo in DEMO_CAMPAIGNS:
        taken = select(Campaign.id).where(func.lower(Campaign.name) == demo.name.lower())
        if session.scalar(taken) is not None:
            continue
        parsed = read_table((DEMO_DIR / demo.filename).read_bytes(), demo.filename)
        prepared = prepare(parsed, parsed.column_map, strict_emails=False)
        report = import_campaign(
            session, name=demo.name, prepared=prepared, source="demo", source_detail=demo.filename
        )
        ids.append(report.campaign_id)
    flag.value = ",".join(str(campaign_id) for campaign_id in ids)  # the campaigns it created
    session.flush()
    return ids
