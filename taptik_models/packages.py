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

    id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")
    )
    config_id: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("auth.users.id", ondelete="CASCADE")
    )
    name: Mapped[str | None] = mapped_column(sa.Text)
    title: Mapped[str | None] = mapped_column(sa.Text)
    platform: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[str | None] = mapped_column(sa.Text)
    is_public: Mapped[bool | None] = mapped_column(sa.Boolean, server_default=sa.false())
    download_count: Mapped[int | None] = mapped_column(sa.Integer, server_default=sa.text("0"))
    user_tags: Mapped[list[str] | None] = mapped_column(ARRAY(sa.Text))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    checksum: Mapped[str | None] = mapped_column(sa.Text)
    storage_url: Mapped[str | None] = mapped_column(sa.Text)
    file_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
