"""Initial schema: exactly data/models.py as of the first release.

A frozen copy on purpose (no import of data.models): later model changes arrive as new revisions, so
an existing database is upgraded in place and its data kept.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('app_flags',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_app_flags'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_detail', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'archived')", name=op.f('ck_campaigns_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('auth_kind', sa.String(length=32), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("provider IN ('hubspot', 'salesforce')", name=op.f('ck_connections_provider')),
    sa.CheckConstraint("status IN ('connected', 'error', 'disconnected')", name=op.f('ck_connections_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections')),
    sa.UniqueConstraint('name', name=op.f('uq_connections_name'))
    )
    op.create_table('mapping_presets',
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('object_name', sa.String(length=32), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'object_name', name=op.f('pk_mapping_presets'))
    )
    op.create_table('oauth_states',
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('connection_name', sa.String(length=64), nullable=False),
    sa.Column('code_verifier', sa.Text(), nullable=True),
    sa.Column('redirect_uri', sa.String(length=512), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('state', name=op.f('pk_oauth_states'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('password_hash', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'analyst')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('first_name', sa.String(length=255), nullable=True),
    sa.Column('last_name', sa.String(length=255), nullable=True),
    sa.Column('company', sa.String(length=255), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('website', sa.String(length=255), nullable=True),
    sa.Column('city', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=128), nullable=True),
    sa.Column('country', sa.String(length=128), nullable=True),
    sa.Column('industry', sa.String(length=128), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('tier', sa.String(length=4), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("tier IS NULL OR tier IN ('HOT', 'WARM', 'COOL')", name=op.f('ck_leads_tier')),
    sa.CheckConstraint('score IS NULL OR (score >= 0 AND score <= 100)', name=op.f('ck_leads_score_range')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_leads_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads'))
    )
    op.create_index('ix_leads_campaign_email', 'leads', ['campaign_id', 'email'])
    op.create_index('ix_leads_campaign_score', 'leads', ['campaign_id', 'score'])
    op.create_index('ix_leads_campaign_tier', 'leads', ['campaign_id', 'tier'])
    op.create_table('push_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=True),
    sa.Column('connection_name', sa.String(length=64), nullable=False),
    sa.Column('object_name', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('source_label', sa.String(length=255), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('api_calls', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('lock_key', sa.String(length=255), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('parent_run_id', sa.Integer(), nullable=True),
    sa.Column('parent_kind', sa.String(length=16), nullable=True),
    sa.Column('worker', sa.String(length=128), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('api_usage', sa.JSON(), nullable=False),
    sa.Column('last_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("mode IN ('upsert', 'create-only', 'update-only')", name=op.f('ck_push_runs_mode')),
    sa.CheckConstraint("state IN ('queued', 'running', 'completed', 'partial', 'failed', 'interrupted', 'cancelled')", name=op.f('ck_push_runs_state')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_push_runs_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_push_runs_connection_id_connections'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_run_id'], ['push_runs.id'], name=op.f('fk_push_runs_parent_run_id_push_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_runs'))
    )
    op.create_index('ix_push_runs_campaign', 'push_runs', ['campaign_id'])
    op.create_index('ix_push_runs_provider_started', 'push_runs', ['provider', 'started_at'])
    op.create_index('ix_push_runs_started_at', 'push_runs', ['started_at'])
    op.create_index('uq_push_runs_active_lock', 'push_runs', ['lock_key'], unique=True, sqlite_where=sa.text("state IN ('queued', 'running')"), postgresql_where=sa.text("state IN ('queued', 'running')"))
    op.create_table('push_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('row_index', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('crm_id', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('row', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('check_state', sa.String(length=16), nullable=True),
    sa.Column('check_diff', sa.JSON(), nullable=True),
    sa.Column('check_modified_at', sa.String(length=40), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("action IN ('pending', 'created', 'updated', 'skipped', 'failed')", name=op.f('ck_push_records_action')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_push_records_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['push_runs.id'], name=op.f('fk_push_records_run_id_push_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_records'))
    )
    op.create_index('ix_push_records_crm_id', 'push_records', ['crm_id'])
    op.create_index('ix_push_records_lead_id', 'push_records', ['lead_id'])
    op.create_index('ix_push_records_run_action', 'push_records', ['run_id', 'action'])
    op.create_index('uq_push_records_run_row', 'push_records', ['run_id', 'row_index'], unique=True)
    op.create_table('sync_state',
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('object_name', sa.String(length=32), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('crm_id', sa.String(length=64), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_sync_state_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['push_runs.id'], name=op.f('fk_sync_state_run_id_push_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('connection_id', 'object_name', 'email_key', name=op.f('pk_sync_state'))
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before their parents.
    op.drop_table('sync_state')
    op.drop_table('push_records')
    op.drop_table('push_runs')
    op.drop_table('leads')
    op.drop_table('users')
    op.drop_table('oauth_states')
    op.drop_table('mapping_presets')
    op.drop_table('connections')
    op.drop_table('campaigns')
    op.drop_table('app_flags')
