"""taptik_packages: one row per pushed package (the file itself lives in storage)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taptik_models.base import Base


class TaptikPackage(Base):
    __tablename__ = "taptik_packages"
    __table_args__ = (
        sa.Index("ix_taptik_packages_team_id", "team_id", postgresql_where=sa.text("team_id IS NOT NULL")),
        sa.Index(
            "ix_taptik_packages_archived_at",
            "archived_at",
            postgresql_where=sa.text("archived_at IS NOT NULL"),
        ),
        sa.Index("ix_taptik_packages_likes", "likes", postgresql_where=sa.text("likes > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    config_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("auth.users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    title: Mapped[str | None] = mapped_column(sa.Text)
    platform: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="1.0.0")
    is_public: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    download_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    user_tags: Mapped[list[str] | None] = mapped_column(ARRAY(sa.Text))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    checksum: Mapped[str] = mapped_column(sa.Text, nullable=False)
    storage_url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    file_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    # v2
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="No description")
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("teams.id", ondelete="SET NULL"))
    sanitization_level: Mapped[str | None] = mapped_column(sa.Text)
    likes: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    views: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default=sa.text("0"))
    archived_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class TaptikPackageQuarantine(Base):
    """Rows that could not meet the v2 constraints, moved aside (never deleted), with the reason."""

    __tablename__ = "taptik_packages_quarantine"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    config_id: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    name: Mapped[str | None] = mapped_column(sa.Text)
    title: Mapped[str | None] = mapped_column(sa.Text)
    platform: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[str | None] = mapped_column(sa.Text)
    is_public: Mapped[bool | None] = mapped_column(sa.Boolean)
    download_count: Mapped[int | None] = mapped_column(sa.Integer)
    user_tags: Mapped[list[str] | None] = mapped_column(ARRAY(sa.Text))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    checksum: Mapped[str | None] = mapped_column(sa.Text)
    storage_url: Mapped[str | None] = mapped_column(sa.Text)
    file_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    description: Mapped[str | None] = mapped_column(sa.Text)
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    sanitization_level: Mapped[str | None] = mapped_column(sa.Text)
    likes: Mapped[int | None] = mapped_column(sa.Integer)
    views: Mapped[int | None] = mapped_column(sa.Integer)
    archived_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    quarantined_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
