"""teams and team_members: packages can be shared with a team.

Why: v2 lets a package belong to a team whose members may read it (0003's policies).
Downgrade preserves: both tables move to `taptik_archive` with their rows; upgrading
again moves them back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data_migrations.archive import archive_table, restore_archived_table
from data_migrations.policies import create_policy, enable_rls

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    restore_archived_table("teams")
    restore_archived_table("team_members")
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        if_not_exists=True,
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("role", sa.Text, server_default="member", nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_team_members_team_id_teams", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name="fk_team_members_user_id_users", ondelete="CASCADE"
        ),
        if_not_exists=True,
    )
    enable_rls("teams")
    enable_rls("team_members")
    create_policy(
        "teams",
        "Members can view their teams",
        "FOR SELECT USING (id IN (SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid()))",
    )
    # Not a subquery on team_members itself: that recurses through this very policy.
    create_policy("team_members", "Members can view their own memberships", "FOR SELECT USING (user_id = auth.uid())")


def downgrade() -> None:
    archive_table("team_members")
    archive_table("teams")
