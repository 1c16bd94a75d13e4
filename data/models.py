"""Typed SQLAlchemy 2.0 models: the app's whole schema, in one place.

``Mapped[...]`` annotations decide nullability; the small ``Annotated`` aliases below carry the shared
column policy. Indexes follow the queries the pages make (leads by campaign, score and tier; records by
run, action and CRM id; runs newest first). The schema itself is created by Alembic migrations
(``data/migrations``), never by ``create_all`` outside tests of the migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


# Named constraints make migrations reproducible on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

intpk = Annotated[int, mapped_column(primary_key=True)]
created = Annotated[datetime, mapped_column(DateTime(timezone=True), default=utcnow)]
when = Annotated[datetime | None, mapped_column(DateTime(timezone=True))]
str16 = Annotated[str, mapped_column(String(16))]
str64 = Annotated[str, mapped_column(String(64))]
str255 = Annotated[str, mapped_column(String(255))]
opt255 = Annotated[str | None, mapped_column(String(255))]
json_obj = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]

# The states in which a run holds its lock: a second push of the same thing is refused meanwhile.
ACTIVE_RUN_STATES = ("queued", "running")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'analyst')", name="role"),)

    id: Mapped[intpk]
    username: Mapped[str64] = mapped_column(unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    email: Mapped[opt255]
    password_hash: Mapped[str] = mapped_column(String(128))  # bcrypt; never a plain password
    role: Mapped[str16]
    created_at: Mapped[created]
    last_login_at: Mapped[when]


class Connection(Base):
    """A CRM connection. ``secret`` holds Fernet ciphertext of a JSON object (tokens, client secret);
    ``settings`` holds only non-secret values (instance URL, portal id, identity, login host)."""

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint("provider IN ('hubspot', 'salesforce')", name="provider"),
        CheckConstraint("status IN ('connected', 'error', 'disconnected')", name="status"),
    )

    id: Mapped[intpk]
    name: Mapped[str64] = mapped_column(unique=True)
    provider: Mapped[str16]
    # sandbox | private_app | oauth | client_credentials | access_token
    auth_kind: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[json_obj]
    status: Mapped[str16] = mapped_column(default="connected")
    status_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created]
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)
    last_checked_at: Mapped[when]
    last_refreshed_at: Mapped[when]
    token_expires_at: Mapped[when]


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("status IN ('active', 'archived')", name="status"),)

    id: Mapped[intpk]
    name: Mapped[str255] = mapped_column(unique=True)
    status: Mapped[str16] = mapped_column(default="active")
    source: Mapped[str] = mapped_column(String(32))  # demo | import | cli
    source_detail: Mapped[opt255]  # e.g. the imported file's name
    created_at: Mapped[created]

    leads: Mapped[list[Lead]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", passive_deletes=True
    )


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
        CheckConstraint("tier IS NULL OR tier IN ('HOT', 'WARM', 'COOL')", name="tier"),
        Index("ix_leads_campaign_score", "campaign_id", "score"),
        Index("ix_leads_campaign_tier", "campaign_id", "tier"),
        Index("ix_leads_campaign_email", "campaign_id", "email"),
    )

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer, default=0)  # position in the source file
    email: Mapped[str | None] = mapped_column(String(320))  # trimmed; compared case-insensitively
    first_name: Mapped[opt255]
    last_name: Mapped[opt255]
    company: Mapped[opt255]
    title: Mapped[opt255]
    phone: Mapped[str | None] = mapped_column(String(64))
    website: Mapped[opt255]
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(128))
    industry: Mapped[str | None] = mapped_column(String(128))
    score: Mapped[int | None]
    tier: Mapped[str | None] = mapped_column(String(4))
    extra: Mapped[json_obj]  # columns we do not know, kept as they came
    created_at: Mapped[created]
    updated_at: Mapped[when] = mapped_column(onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="leads")


class PushRun(Base):
    """One push or dry run. Counters are updated per batch, so a crash leaves them truthful."""

    __tablename__ = "push_runs"
    __table_args__ = (
        CheckConstraint("mode IN ('upsert', 'create-only', 'update-only')", name="mode"),
        CheckConstraint(
            "state IN ('queued', 'running', 'completed', 'partial', 'failed', 'interrupted', 'cancelled')",
            name="state",
        ),
        Index("ix_push_runs_started_at", "started_at"),
        Index("ix_push_runs_provider_started", "provider", "started_at"),
        Index("ix_push_runs_campaign", "campaign_id"),
        # At most one active run per lock key (provider + object + campaign or file): the database,
        # not the app, refuses the second push, so it holds across processes and app instances.
        Index(
            "uq_push_runs_active_lock",
            "lock_key",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[intpk]
    created_by: Mapped[str64]
    started_at: Mapped[created]
    finished_at: Mapped[when]
    provider: Mapped[str16]
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"))
    connection_name: Mapped[str64]
    object_name: Mapped[str] = mapped_column(String(32))  # contacts | Lead | Contact
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    source_label: Mapped[str255]  # campaign name or file name, kept after a campaign is deleted
    mode: Mapped[str16] = mapped_column(default="upsert")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    filters: Mapped[json_obj]
    mapping: Mapped[json_obj]  # field map, value maps and custom fields, as used
    options: Mapped[json_obj]  # force_full, allow_duplicates, bulk_threshold …
    total: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    api_calls: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    state: Mapped[str16] = mapped_column(default="queued")
    lock_key: Mapped[str | None] = mapped_column(String(255))
    error_message: Mapped[str | None] = mapped_column(Text)
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    parent_kind: Mapped[str | None] = mapped_column(String(16))  # retry | resume
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid of the executing process
    heartbeat_at: Mapped[when]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    api_usage: Mapped[json_obj]  # the CRM's reported usage at the end (e.g. Sforce-Limit-Info)
    last_check_at: Mapped[when]  # the last status check of this run's records


class PushRecord(Base):
    """One input row of a run. Written as ``pending`` before anything is sent, then given its one final
    action per batch; a crash leaves exactly the unsent rows pending, which ``resume`` picks up."""

    __tablename__ = "push_records"
    __table_args__ = (
        CheckConstraint("action IN ('pending', 'created', 'updated', 'skipped', 'failed')", name="action"),
        Index("uq_push_records_run_row", "run_id", "row_index", unique=True),
        Index("ix_push_records_run_action", "run_id", "action"),
        Index("ix_push_records_crm_id", "crm_id"),
        # Deleting leads sets lead_id to NULL here: without this index, every deleted lead scans all records.
        Index("ix_push_records_lead_id", "lead_id"),
    )

    id: Mapped[intpk]
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id", ondelete="CASCADE"))
    row_index: Mapped[int]
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str16] = mapped_column(default="pending")
    crm_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    row: Mapped[json_obj]  # the lead's values as pushed, edits included
    payload: Mapped[json_obj]  # the mapped CRM values sent
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[list[Any] | None] = mapped_column(JSON)  # dry run: [[field, before, after], …]
    check_state: Mapped[str | None] = mapped_column(String(16))  # exists | deleted | merged | converted
    check_diff: Mapped[list[Any] | None] = mapped_column(JSON)  # [[field, pushed, now], …]
    check_modified_at: Mapped[str | None] = mapped_column(String(40))
    checked_at: Mapped[when]


class SyncState(Base):
    """The last successful push of an email to a connection and object, for change detection: a row
    whose payload hash is unchanged is skipped, as Hightouch and Census do."""

    __tablename__ = "sync_state"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    object_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased email
    payload_hash: Mapped[str64]
    crm_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    pushed_at: Mapped[created]


class OAuthState(Base):
    """A pending OAuth authorization: ``state`` is single use and expires; the PKCE verifier is
    stored encrypted, server-side, never in the browser."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str16]
    connection_name: Mapped[str64]
    code_verifier: Mapped[str | None] = mapped_column(Text)  # Fernet ciphertext
    redirect_uri: Mapped[str] = mapped_column(String(512))
    settings: Mapped[json_obj]  # e.g. the Salesforce login host chosen
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[when]


class MappingPreset(Base):
    """The last mapping used per provider and object, offered again on the next push."""

    __tablename__ = "mapping_presets"

    provider: Mapped[str16] = mapped_column(primary_key=True)
    object_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    mapping: Mapped[json_obj]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)


class AppFlag(Base):
    """Small one-off facts about this installation (e.g. demo data loaded once)."""

    __tablename__ = "app_flags"

    name: Mapped[str64] = mapped_column(primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)
