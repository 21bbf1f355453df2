"""`taptik-db status`: where the database stands in the chain, and what is wrong with it.

Current and head revisions, what is pending, who holds the migration lock, the
checkpoints a killed batched step left behind, invalid indexes from a failed
concurrent build, and applied revisions whose file has changed since. Each problem
comes with what to do about it. Also home to the small Alembic helpers that
`deploy`, `recover` and `adopt` share (the chain, the current revision, running the
real `alembic` command).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from data_migrations.batches import PROGRESS
from data_migrations.locks import lock_holder
from storage_tasks import checksums, migrator
from taptik_models.errors import ConfigError
from taptik_models.settings import project_root, redact_url

RESUME = "run `alembic upgrade head` (or `taptik-db recover`) to resume from the checkpoint"


# -- the chain and the real alembic command, shared by deploy, recover and adopt --------------
def alembic_config() -> Config:
    return Config(str(project_root() / "alembic.ini"))


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def current_revisions(conn: Connection) -> list[str]:
    return sorted(MigrationContext.configure(conn).get_current_heads())


def revisions_between(script: ScriptDirectory, current: list[str], target: str = "head") -> list[Script]:
    """The revisions an upgrade from `current` to `target` applies, in order."""
    try:
        return list(reversed(list(script.iterate_revisions(target, tuple(current) or "base"))))
    except CommandError as exc:
        raise ConfigError(f"cannot plan an upgrade from {current or 'base'} to {target}: {exc}") from None


def run_alembic(url: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """The real `alembic` command line on `url`, as a user runs it.

    The URL goes through DATABASE_URL in the child's environment: never on a command
    line, where `ps` would show its password.
    """
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(project_root() / "alembic.ini"), *args],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def alembic_error(url: str, done: subprocess.CompletedProcess) -> str:
    """The last meaningful line alembic wrote, password removed."""
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit code {done.returncode}"
    password = make_url(url).password
    return message.replace(str(password), "***") if password else message


# -- what status inspects ------------------------------------------------------------------
def unfinished_checkpoints(conn: Connection) -> list[dict]:
    """Checkpoint rows of batched steps that never finished (a run killed or failed midway)."""
    if conn.execute(text("SELECT to_regclass(:t)"), {"t": PROGRESS}).scalar() is None:
        return []
    rows = conn.execute(
        text(
            f"SELECT revision, step, last_key, rows_done, started_at, updated_at FROM {PROGRESS} "
            "WHERE finished_at IS NULL ORDER BY revision, step"
        )
    )
    return [dict(row) for row in rows.mappings()]


def invalid_indexes(conn: Connection) -> list[dict]:
    """Indexes in public that a failed (or still running) concurrent build left INVALID."""
    rows = conn.execute(
        text(
            """
            SELECT c.relname AS name, t.relname AS "table", pg_get_indexdef(i.indexrelid) AS definition
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND NOT i.indisvalid
            ORDER BY c.relname
            """
        )
    )
    return [dict(row) for row in rows.mappings()]


@dataclass
class Finding:
    kind: str  # lock_held | unfinished_checkpoint | invalid_index | changed_revision
    message: str
    action: str


@dataclass
class StatusReport:
    database: str
    current: list[str]
    head: list[str]
    pending: list[str]
    lock_holder: dict | None
    unfinished_checkpoints: list[dict] = field(default_factory=list)
    invalid_indexes: list[dict] = field(default_factory=list)
    changed_revisions: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def describe_holder(holder: dict) -> str:
    return (
        f"migration lock held by backend pid {holder['pid']} ({holder['user']}, application "
        f"{holder['application'] or '-'}, {holder['state']}, connected since {holder['since']})"
    )


def _findings(report: StatusReport) -> list[Finding]:
    findings = []
    migrating = report.lock_holder is not None and report.lock_holder.get("state") == "active"
    in_progress = " (a migrator is running: it may still be in progress)" if migrating else ""
    if report.lock_holder:
        findings.append(
            Finding(
                "lock_held",
                describe_holder(report.lock_holder),
                "a migration is running: wait for it to end"
                if migrating
                else "if no migrator is running, `taptik-db recover` ends the stale holder",
            )
        )
    for cp in report.unfinished_checkpoints:
        downgrade = "-" in cp["revision"]
        findings.append(
            Finding(
                "unfinished_checkpoint",
                f"batched step {cp['revision']} '{cp['step']}' stopped at {_position(cp['last_key'])} "
                f"({cp['rows_done']} rows done, last progress {cp['updated_at']}){in_progress}",
                f"rerun the downgrade that was interrupted (`alembic downgrade <revision before "
                f"{cp['revision'].split('-')[0]}>`) to resume"
                if downgrade
                else RESUME,
            )
        )
    for ix in report.invalid_indexes:
        findings.append(
            Finding(
                "invalid_index",
                f"index {ix['name']} on {ix['table']} is INVALID (a failed concurrent build){in_progress}",
                "`taptik-db recover` drops it and builds it again concurrently",
            )
        )
    for ch in report.changed_revisions:
        what = "is gone" if ch["current_sha256"] is None else "has changed"
        findings.append(
            Finding(
                "changed_revision",
                f"revision {ch['revision']} was applied on {ch['applied_at']} but its file {what} since",
                "a released revision must not change: restore the file from version control and fix forward "
                "with a new revision (`taptik-db deploy` refuses unless --allow-changed)",
            )
        )
    return findings


def inspect(conn: Connection, script: ScriptDirectory, database: str) -> StatusReport:
    """The status of the database `conn` is connected to (read-only)."""
    current = current_revisions(conn)
    report = StatusReport(
        database=database,
        current=current,
        head=sorted(script.get_heads()),
        pending=[s.revision for s in revisions_between(script, current)],
        lock_holder=lock_holder(conn),
        unfinished_checkpoints=unfinished_checkpoints(conn),
        invalid_indexes=invalid_indexes(conn),
        changed_revisions=[asdict(c) for c in checksums.changed_revisions(conn, script)],
    )
    report.findings = _findings(report)
    conn.rollback()
    return report


def status(database_url: str | None = None) -> StatusReport:
    url = migrator.resolve_url(database_url, None)
    with migrator.connect(url) as conn:
        return inspect(conn, script_directory(), redact_url(url))


def _position(last_key: str | None) -> str:
    """Where a batched step stopped: a heap block for in-place rewrites, else the last key done."""
    if last_key and last_key.startswith("(") and last_key.endswith(",0)"):
        return f"block {last_key[1:-3]}"
    return f"key {last_key}"
