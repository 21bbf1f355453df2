"""`taptik-db status | deploy | adopt | recover`: deploys and operations on the database.

Each command parses its options, calls one task function, and prints the result
(human text, or one JSON document with --json).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from storage_tasks.output import emit
from storage_tasks.storage_cli import Duration, database_option, json_option


def _or_none(items) -> str:
    return ", ".join(items) or "none"


@click.command()
@database_option
@json_option
def status(database_url: str | None, as_json: bool) -> None:
    """Where the database stands: revisions, the migration lock, and what needs attention.

    Reports the current revision, head and pending revisions; who holds the migration
    lock; checkpoints of batched steps a killed run left; INVALID indexes; applied
    revisions whose file changed since. Each problem comes with what to do about it.
    """
    from storage_tasks.status import status as run_status

    report = run_status(database_url)
    lines = [
        f"database: {report.database}",
        f"current:  {_or_none(report.current)}",
        f"head:     {_or_none(report.head)}",
        f"pending:  {_or_none(report.pending)}" + (" (run `taptik-db deploy`)" if report.pending else ""),
        "lock:     " + ("free" if report.lock_holder is None else f"held by pid {report.lock_holder['pid']}"),
    ]
    for f in report.findings:
        lines += [f"problem: {f.message}", f"  what to do: {f.action}"]
    if report.ok:
        lines.append("no problems found")
    emit(asdict(report) | {"ok": report.ok}, as_json, "\n".join(lines))


@click.command()
@click.option("--to", "target", default="head", show_default=True, metavar="REV", help="Revision to upgrade to.")
@click.option(
    "--backup-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the pg_dump backup goes (default: .taptik/backups, or $TAPTIK_HOME/backups).",
)
@click.option("--no-backup", is_flag=True, help="Skip the pg_dump backup (you have your own).")
@click.option("--allow-changed", is_flag=True, help="Deploy even though an applied revision file has changed.")
@database_option
@json_option
def deploy(
    target: str,
    backup_dir: Path | None,
    no_backup: bool,
    allow_changed: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Preflight, back up, upgrade, verify and ANALYZE; roll back when the upgrade or verify fails.

    Exit codes: 0 success; 1 failed and rolled back to the starting revision; 2 failed
    and needs a human (the rollback or its verification failed); 3 refused by the
    preflight or the backup, nothing changed.
    """
    from storage_tasks.deploy import deploy as run_deploy

    report = run_deploy(
        database_url=database_url, to=target, backup_dir=backup_dir, no_backup=no_backup, allow_changed=allow_changed
    )
    lines = [f"deploy {report.database}: {_or_none(report.start)} -> {report.target}"]
    for step in report.plan:
        flag = "" if step["reversible"] else " (irreversible)"
        lines.append(f"  {step['revision']}{flag}: {step['description']}")
    for phase in report.phases:
        error = f": {phase.details['error']}" if "error" in phase.details else ""
        lines.append(f"{'ok  ' if phase.ok else 'FAIL'} {phase.name} ({phase.seconds:.2f} s){error}")
    lines += [f"warning: {w}" for w in report.warnings]
    if report.backup:
        lines.append(f"backup: {report.backup.path} ({report.backup.size} bytes, sha256 {report.backup.sha256})")
    summary = {
        "succeeded": "deployed",
        "refused": "refused, nothing changed",
        "rolled_back": f"failed in {report.failed_phase}; rolled back to {report.rolled_back_to}",
        "needs_human": f"failed in {report.failed_phase} and NOT rolled back cleanly: needs a human",
    }[report.outcome]
    lines.append(summary + (f" ({report.error})" if report.error else ""))
    emit(asdict(report) | {"ok": report.ok}, as_json, "\n".join(lines))
    if report.exit_code:
        raise click.exceptions.Exit(report.exit_code)


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option(
    "--stale-after",
    type=Duration(),
    default="10m",
    show_default=True,
    help="A lock holder idle (state unchanged) for longer than this is stale.",
)
@click.option("--to", "target", default="head", show_default=True, metavar="REV", help="Upgrade that resumes steps.")
@database_option
@json_option
def recover(dry_run: bool, stale_after, target: str, database_url: str | None, as_json: bool) -> None:
    """Recover from a failed migration: stale lock, invalid indexes, unfinished batched steps.

    Terminates the backend of a stale migration lock (idle longer than --stale-after;
    an active holder is never touched), drops and rebuilds INVALID indexes concurrently,
    and resumes batched steps a killed run left unfinished (`alembic upgrade --to`).
    Exit code 1 when something could not be recovered or was left alone.
    """
    from storage_tasks.recover import recover as run_recover

    report = run_recover(database_url, dry_run=dry_run, stale_after=stale_after, to=target)
    verb = "would" if dry_run else "did"
    lines = []
    for a in report.actions:
        outcome = "FAILED: " + a.error if a.error else ("done" if a.done else "planned")
        lines.append(f"{a.state} {a.target}: {verb} {a.action} ({outcome})")
    lines += [f"left alone: {u}" for u in report.untouched]
    lines.append(
        "nothing to recover"
        if not report.actions and not report.untouched
        else ("ok" if report.ok else "not fully recovered")
    )
    emit(asdict(report) | {"ok": report.ok}, as_json, "\n".join(lines))
    if not report.ok:
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Find the matching revision; do not stamp it.")
@database_option
@json_option
def adopt(dry_run: bool, database_url: str | None, as_json: bool) -> None:
    """Put a database migrated by the legacy SQL (schema_migrations) under Alembic.

    Compares the live public schema (tables, columns, indexes, constraints, RLS
    policies) with the schema each revision produces, and stamps the revision it
    matches exactly. Refuses (exit 1) with the differences from the closest revision
    when none matches; refuses a database that already has alembic_version. Never
    changes data.
    """
    from storage_tasks.adopt import adopt as run_adopt

    report = run_adopt(database_url, dry_run=dry_run)
    lines = [f"legacy schema_migrations version: {report.legacy_version or 'none'}"]
    if report.matched:
        verb = "would stamp" if dry_run else "stamped"
        lines.append(f"the schema matches revision {report.matched} exactly: {verb} {report.matched}")
    else:
        lines.append(f"the schema matches no revision exactly; closest is {report.closest}, which differs by:")
        lines += [f"  {d}" for d in report.differences]
        lines.append("nothing stamped: bring the schema in line with that revision, then adopt again")
    lines += [f"warning: {w}" for w in report.warnings]
    emit(asdict(report) | {"ok": report.ok}, as_json, "\n".join(lines))
    if not report.ok:
        raise click.exceptions.Exit(1)


COMMANDS = [status, deploy, recover, adopt]
