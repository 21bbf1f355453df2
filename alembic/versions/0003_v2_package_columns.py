"""v2 package columns, their backfill from v1 metadata, partial indexes, v2 RLS policies.

Why: v2 clients send description, team, sanitization level; likes, views and archiving
are new. Existing rows get description/title/tags from `metadata` (as v1 clients stored
them) and sanitization_level 'none'.
Downgrade preserves: title and user_tags rewritten by the backfill get their pre-images
back (where the application has not changed them since); the v2 columns move to
`taptik_archive.taptik_packages_columns_0003` and the next upgrade restores them; a
description the v1 shape cannot derive is folded into `metadata.description` (the fold
itself is saved as a pre-image, so re-upgrading restores `metadata` exactly).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from data_migrations import batches, ddl
from data_migrations.archive import archive_columns, restore_archived_columns
from data_migrations.policies import create_policy, drop_policy
from data_migrations.preimages import restore_pre_images, rewrite_in_batches
from taptik_models.compat import V1_METADATA_COLUMNS

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "taptik_packages"
V2_COLUMNS = ["description", "team_id", "sanitization_level", "likes", "views", "archived_at"]
TAGS_KEY = next(key for key, column in V1_METADATA_COLUMNS.items() if column == "user_tags")
# What a v1 row says its description is; the downgrade folds only what differs from it.
DERIVED_DESCRIPTION = "coalesce(t.metadata->>'description', 'Package ' || t.name)"
BACKFILL = {
    "title": "coalesce(t.title, t.metadata->>'title')",
    "user_tags": (
        f"coalesce(t.user_tags, CASE WHEN jsonb_typeof(t.metadata->'{TAGS_KEY}') = 'array' "
        f"THEN ARRAY(SELECT jsonb_array_elements_text(t.metadata->'{TAGS_KEY}')) END)"
    ),
    "description": f"coalesce(t.description, {DERIVED_DESCRIPTION})",
    "sanitization_level": "coalesce(t.sanitization_level, 'none')",
}
V1_POLICIES = {
    "Users can view public packages": "FOR SELECT USING (is_public OR auth.uid() = user_id)",
    "Users can manage own packages": "FOR ALL USING (auth.uid() = user_id)",
}
V2_POLICIES = {
    "Packages are visible to owner, public or team": (
        "FOR SELECT USING (auth.uid() = user_id OR is_public OR team_id IN "
        "(SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid()))"
    ),
    "Owners manage their packages": "FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id)",
}
PARTIAL_INDEXES = {
    "ix_taptik_packages_team_id": ("(team_id)", "team_id IS NOT NULL"),
    "ix_taptik_packages_archived_at": ("(archived_at)", "archived_at IS NOT NULL"),
    "ix_taptik_packages_likes": ("(likes)", "likes > 0"),
}


def upgrade() -> None:
    # Expand: nullable columns and constant defaults only (metadata-only, no table rewrite).
    ddl.add_column(TABLE, "description text")
    ddl.add_column(TABLE, "team_id uuid")
    ddl.add_column(TABLE, "sanitization_level text")
    counter = ("prefer-bigint-over-int", "DESIGN.md fixes likes and views as integer, like download_count")
    ddl.add_column(TABLE, "likes integer NOT NULL DEFAULT 0", squawk=counter)
    ddl.add_column(TABLE, "views integer NOT NULL DEFAULT 0", squawk=counter)
    ddl.add_column(TABLE, "archived_at timestamptz")
    ddl.add_foreign_key(
        "fk_taptik_packages_team_id_teams", TABLE, ["team_id"], "public.teams", ["id"], ondelete="SET NULL"
    )
    # Values from an earlier downgrade win over recomputed ones.
    restore_archived_columns(revision, TABLE, V2_COLUMNS)
    restore_pre_images(f"{revision}-downgrade", TABLE, ["metadata"])
    # Backfill in keyset batches, pre-images saved.
    rewrite_in_batches(revision, "backfill v2 fields from metadata", TABLE, BACKFILL, preserve=["title", "user_tags"])
    for name, (columns, where) in PARTIAL_INDEXES.items():
        ddl.create_index(name, TABLE, columns, where=where)
    for name in V1_POLICIES:
        drop_policy(TABLE, name)
    for name, definition in V2_POLICIES.items():
        create_policy(TABLE, name, definition)
    batches.clear_progress(revision)


def downgrade() -> None:
    for name in V2_POLICIES:
        drop_policy(TABLE, name)
    for name, definition in V1_POLICIES.items():
        create_policy(TABLE, name, definition)
    for name in PARTIAL_INDEXES:
        ddl.drop_index(name)
    ddl.drop_constraint("fk_taptik_packages_team_id_teams", TABLE)
    # Rows written under v2 keep their description where v1 clients look for it.
    rewrite_in_batches(
        f"{revision}-downgrade",
        "fold description into metadata",
        TABLE,
        {"metadata": "coalesce(t.metadata, '{}'::jsonb) || jsonb_build_object('description', t.description)"},
        where=f"t.description IS NOT NULL AND t.description IS DISTINCT FROM {DERIVED_DESCRIPTION}",
    )
    restore_pre_images(revision, TABLE, ["title", "user_tags"])
    archive_columns(revision, TABLE, V2_COLUMNS)
    batches.clear_progress(revision)
