"""package_analytics: one row per event (download, view, like ...) on a package."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taptik_models.base import Base


class PackageAnalytics(Base):
    __tablename__ = "package_analytics"
    __table_args__ = (
        sa.Index("ix_package_analytics_package_id", "package_id"),
        sa.Index("ix_package_analytics_event_type", "event_type"),
        sa.Index("ix_package_analytics_created_at", sa.text("created_at DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    package_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("taptik_packages.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
