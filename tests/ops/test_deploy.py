"""`taptik-db deploy`: preflight, backup, upgrade, verify, analyze; rollback; refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from data_migrations.locks import MIGRATION_LOCK_KEY
from storage_tasks.deploy import FAULT_ENV, DeployStepFailed, choose_pg_dump, pg_dump_candidates, pg_dump_major
from tests.conftest import HEAD, run_alembic
from tests.helpers import seed_packages
from tests.ops.helpers import cli_json, rows_digest, version

PHASES = ["preflight", "backup", "upgrade", "verify", "analyze"]


def test_deploy_migrates_backs_up_verifies_and_reports_json(db_url, engine, tmp_path):
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=20, downloads=2)
    code, report, stderr = cli_json("deploy", "--database-url", db_url, "--backup-dir", str(tmp_path))
    assert code == 0, report
    assert report["outcome"] == "succeeded" and report["start"] == ["0001"]
    assert [p["name"] for p in report["phases"]] == PHASES
    assert all(p["ok"] and p["seconds"] >= 0 for p in report["phases"])
    assert [s["revision"] for s in report["plan"]] == ["0002", "0003", "0004", "0005", "0006", "0007"]
    assert all(s["reversible"] for s in report["plan"])
    backup = Path(report["backup"]["path"])
    assert backup.parent == tmp_path and backup.stat().st_size == report["backup"]["size"]
    assert hashlib.sha256(backup.read_bytes()).hexdigest() == report["backup"]["sha256"]
    assert backup.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    verify = next(p for p in report["phases"] if p["name"] == "verify")
    assert {c["name"] for c in verify["details"]["checks"]} >= {"alembic_at_head", "alembic_check_no_drift"}
    assert "taptik_packages" in report["phases"][-1]["details"]["tables"]  # analyzed
    assert version(engine) == HEAD
    password = make_url(db_url).password
    assert password not in str(report) + stderr


def test_failed_upgrade_rolls_back_to_the_start_with_data_intact(db_url, engine):
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    seed_packages(engine, count=30, downloads=3)
    before = rows_digest(engine, "taptik_packages", "teams", "team_members")
    code, report, _ = cli_json("deploy", "--database-url", db_url, "--no-backup", extra_env={FAULT_ENV: "0005"})
    assert code == 1, report
    assert report["outcome"] == "rolled_back" and report["failed_phase"] == "upgrade"
    assert "injected fault after revision 0005" in report["error"]
    assert report["rolled_back_to"] == "0002"
    names = {p["name"]: p for p in report["phases"]}
    assert names["upgrade"]["details"]["reached"] == ["0005"]
    assert names["rollback"]["ok"] and names["verify_after_rollback"]["ok"]
    assert version(engine) == "0002"
    assert rows_digest(engine, "taptik_packages", "teams", "team_members") == before


def test_deploy_refuses_while_another_migrator_holds_the_lock(db_url, engine):
    with engine.connect() as holder:
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
        code, report, _ = cli_json("deploy", "--database-url", db_url, "--no-backup")
    assert code == 3
    assert report["outcome"] == "refused" and report["failed_phase"] == "preflight"
    assert f"migration lock held by backend pid {pid}" in report["error"]
    assert [p["name"] for p in report["phases"]] == ["preflight"]
    assert version(engine) is None


def test_deploy_refuses_a_changed_applied_revision_unless_allowed(db_url, engine):
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE taptik_archive.applied_revisions SET file_sha256 = 'edited' WHERE revision = '0001'")
        )
    code, status, _ = cli_json("status", "--database-url", db_url)
    assert [f["kind"] for f in status["findings"]] == ["changed_revision"]
    assert "--allow-changed" in status["findings"][0]["action"]
    code, report, _ = cli_json("deploy", "--database-url", db_url, "--no-backup")
    assert code == 3 and "0001" in report["error"] and "--allow-changed" in report["error"]
    assert version(engine) == "0002"
    code, report, _ = cli_json("deploy", "--database-url", db_url, "--no-backup", "--to", "0003", "--allow-changed")
    assert code == 0, report
    assert any("0001" in w for w in report["warnings"])
    assert version(engine) == "0003"


def test_status_reports_revisions_and_no_problems(db_url):
    assert run_alembic("upgrade", "0005", database_url=db_url).returncode == 0
    code, report, _ = cli_json("status", "--database-url", db_url)
    assert code == 0
    assert report["current"] == ["0005"] and report["head"] == [HEAD]
    assert report["pending"] == ["0006", "0007"]
    assert report["lock_holder"] is None and report["findings"] == [] and report["ok"]


def test_a_pg_dump_older_than_the_server_is_a_clear_error():
    candidates = pg_dump_candidates()
    newest = max(pg_dump_major(p) for p in candidates)
    with pytest.raises(DeployStepFailed, match=rf"no pg_dump for PostgreSQL {newest + 1}: .*at least as new"):
        choose_pg_dump(newest + 1, candidates)
    assert pg_dump_major(choose_pg_dump(newest, candidates)) >= newest
