"""Checksums of applied revision files (like Flyway's validate).

env.py records the sha256 of each revision file as it is applied (Alembic's
`on_version_apply` hook, in the same transaction as the version change) and forgets it
when the revision is downgraded. `taptik-db status` and `deploy` compare the records
with the files on disk: a released revision must never change (fix forward instead).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

TABLE = "taptik_archive.applied_revisions"


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record_applied(ctx, step, heads, run_args) -> None:
    """Alembic `on_version_apply` callback."""
    ctx.execute(text("CREATE SCHEMA IF NOT EXISTS taptik_archive"))
    ctx.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (revision text PRIMARY KEY, file_sha256 text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
    )
    if step.is_upgrade:
        for revision_id in step.up_revision_ids:
            script = step.revision_map.get_revision(revision_id)
            ctx.execute(
                text(
                    f"INSERT INTO {TABLE} (revision, file_sha256) VALUES (:r, :h) "
                    "ON CONFLICT (revision) DO UPDATE SET file_sha256 = EXCLUDED.file_sha256, applied_at = now()"
                ).bindparams(r=revision_id, h=file_sha256(script.path))
            )
    else:
        for revision_id in step.up_revision_ids:
            ctx.execute(text(f"DELETE FROM {TABLE} WHERE revision = :r").bindparams(r=revision_id))


@dataclass(frozen=True)
class ChangedRevision:
    revision: str
    recorded_sha256: str
    current_sha256: str | None  # None: the file is gone
    applied_at: object


def changed_revisions(connection: Connection, script: ScriptDirectory) -> list[ChangedRevision]:
    """Applied revisions whose file differs from (or no longer matches) what was applied."""
    if connection.execute(text("SELECT to_regclass(:t)"), {"t": TABLE}).scalar() is None:
        return []
    changed = []
    for revision, recorded, applied_at in connection.execute(
        text(f"SELECT revision, file_sha256, applied_at FROM {TABLE} ORDER BY revision")
    ):
        try:
            current_sha = file_sha256(script.get_revision(revision).path)
        except CommandError:  # the revision file is gone
            current_sha = None
        if current_sha != recorded:
            changed.append(ChangedRevision(revision, recorded, current_sha, applied_at))
    return changed
