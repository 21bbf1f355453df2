"""package_versions: every published version of a package, with its own file."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taptik_models.base import Base


class PackageVersion(Base):
    __tablename__ = "package_versions"
    __table_args__ = (sa.UniqueConstraint("package_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    package_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("taptik_packages.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[str] = mapped_column(sa.Text, nullable=False)
    changelog: Mapped[str | None] = mapped_column(sa.Text)
    storage_url: Mapped[str | None] = mapped_column(sa.Text)
    checksum: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
