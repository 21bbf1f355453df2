"""package_analytics, with the historical downloads as events.

Why: v2 counts downloads (and views, likes) as events instead of a bare counter. Each
counted v1 download becomes one `download` event with metadata {"migrated": true}.
The table is new and unread by the application until this revision ends, so it is
loaded first (set-based keyset batches, resumable) and only then gets its primary key,
foreign key and indexes.
Downgrade preserves: the table moves to `taptik_archive` with every event (including
events recorded after the upgrade); the next upgrade moves it back instead of
recomputing. `download_count` itself is never touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data_migrations import batches, ddl
from data_migrations.archive import archive_table, restore_archived_table
from data_migrations.backfills import load_download_events
from data_migrations.lint import ignore_in_file
from data_migrations.policies import create_policy, enable_rls

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "package_analytics"


def upgrade() -> None:
    if not restore_archived_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("id", sa.Uuid, server_default=sa.text("gen_random_uuid()"), nullable=False),
            sa.Column("package_id", sa.Uuid, nullable=False),
            sa.Column("event_type", sa.Text, nullable=False),
            sa.Column("user_id", sa.Uuid),
            sa.Column("metadata", postgresql.JSONB),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            if_not_exists=True,
        )
        load_download_events(revision)
    ddl.add_primary_key("pk_package_analytics", TABLE, ["id"])
    ignore_in_file(
        "require-concurrent-index-creation",
        "package_analytics is new: the application does not read or write it before this revision commits",
    )
    ddl.add_foreign_key(
        "fk_package_analytics_package_id_taptik_packages",
        TABLE,
        ["package_id"],
        "public.taptik_packages",
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_package_analytics_package_id", TABLE, ["package_id"], if_not_exists=True)
    op.create_index("ix_package_analytics_event_type", TABLE, ["event_type"], if_not_exists=True)
    op.create_index("ix_package_analytics_created_at", TABLE, [sa.text("created_at DESC")], if_not_exists=True)
    enable_rls(TABLE)
    create_policy(
        TABLE,
        "Owners read their packages' events",
        "FOR SELECT USING (EXISTS (SELECT 1 FROM taptik_packages p "
        "WHERE p.id = package_id AND p.user_id = auth.uid()))",
    )
    batches.clear_progress(revision)


def downgrade() -> None:
    archive_table(TABLE)
    batches.clear_progress(revision)
