"""`taptik-db recover`, each failure state created for real: a killed backfill, a stale lock, an invalid index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from data_migrations.locks import MIGRATION_LOCK_KEY, lock_holder
from tests.conftest import HEAD, ROOT, run_alembic
from tests.helpers import LIKES_INDEX_STATE, make_invalid_likes_index, rows_done_in_flight, seed_packages
from tests.ops.helpers import cli_json, version

INDEX_STATE = LIKES_INDEX_STATE


def _kill_migrator_mid_backfill(engine, db_url) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": db_url}
    migrator = subprocess.Popen(
        [sys.executable, "-m", "alembic", "-x", "batch_rows=10", "-x", "batch_pause=0.05", "upgrade", "0004"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while not (rows_done_in_flight(conn, "0004") or 0) >= 50:
            conn.rollback()
            assert time.monotonic() < deadline and migrator.poll() is None, "never caught the backfill running"
            time.sleep(0.02)
        os.kill(migrator.pid, signal.SIGKILL)
        migrator.wait()
        while lock_holder(conn) is not None:  # the dead client's backend notices and exits
            conn.rollback()
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_recover_resumes_a_killed_backfill_from_its_checkpoint(engine, db_url):
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=200, downloads=5)
    assert run_alembic("upgrade", "0003", database_url=db_url).returncode == 0
    _kill_migrator_mid_backfill(engine, db_url)
    _, status, _ = cli_json("status", "--database-url", db_url)
    [finding] = status["findings"]
    assert finding["kind"] == "unfinished_checkpoint" and "0004" in finding["message"]
    assert "alembic upgrade head" in finding["action"]
    code, report, _ = cli_json("recover", "--database-url", db_url)
    assert code == 0, report
    [action] = report["actions"]
    assert action["state"] == "unfinished_checkpoint" and action["done"]
    assert version(engine) == HEAD
    with engine.connect() as conn:
        per_package = conn.execute(sa.text("SELECT count(*) FROM package_analytics GROUP BY package_id")).scalars()
        assert sorted(set(per_package)) == [5]  # resumed, no duplicate events
        assert conn.execute(sa.text("SELECT count(*) FROM taptik_archive.taptik_migration_progress")).scalar() == 0


def test_recover_ends_a_stale_lock_holder_but_never_a_recent_one(engine, db_url):
    with engine.connect() as holder:
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()  # idle from here on, as a migrator whose client hung
        code, report, _ = cli_json("recover", "--database-url", db_url)  # default --stale-after 10m
        assert code == 1 and report["actions"] == []
        assert f"pid {pid}" in report["untouched"][0] and "not stale" in report["untouched"][0]
        assert holder.execute(sa.text("SELECT 1")).scalar() == 1  # untouched
        holder.commit()
        time.sleep(1.2)
        code, report, _ = cli_json("recover", "--database-url", db_url, "--dry-run", "--stale-after", "1s")
        assert code == 0 and report["actions"][0]["done"] is False
        code, report, _ = cli_json("recover", "--database-url", db_url, "--stale-after", "1s")
        assert code == 0, report
        assert report["actions"] == [
            {"state": "stale_lock", "target": f"backend pid {pid}", "action": f"pg_terminate_backend({pid})",
             "done": True, "error": None}
        ]  # fmt: skip
        with pytest.raises(sa.exc.OperationalError):
            holder.execute(sa.text("SELECT 1"))
    with engine.connect() as conn:
        assert lock_holder(conn) is None


def test_recover_rebuilds_an_invalid_index_once_the_data_allows_it(engine, db_url):
    make_invalid_likes_index(engine, db_url)
    _, status, _ = cli_json("status", "--database-url", db_url)
    assert [f["kind"] for f in status["findings"]] == ["invalid_index"]
    assert "taptik-db recover" in status["findings"][0]["action"]
    with engine.begin() as conn:  # the duplicates are fixed by hand
        conn.execute(
            sa.text(
                "UPDATE taptik_packages p SET likes = r.n FROM (SELECT id, row_number() OVER (ORDER BY id) AS n "
                "FROM taptik_packages) r WHERE r.id = p.id"
            )
        )
    code, report, _ = cli_json("recover", "--database-url", db_url)
    assert code == 0, report
    [action] = report["actions"]
    assert action["state"] == "invalid_index" and action["done"]
    assert "CREATE UNIQUE INDEX CONCURRENTLY ix_taptik_packages_likes" in action["action"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql(INDEX_STATE).one() == (True, True)


def test_recover_drops_an_index_it_cannot_rebuild_and_says_why(engine, db_url):
    make_invalid_likes_index(engine, db_url)
    code, report, _ = cli_json("recover", "--database-url", db_url)
    assert code == 1
    [action] = report["actions"]
    assert not action["done"] and "could not rebuild ix_taptik_packages_likes" in action["error"]
    assert "fix the data, then run: CREATE UNIQUE INDEX CONCURRENTLY" in action["error"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('ix_taptik_packages_likes')").scalar() is None
        conn.exec_driver_sql("INSERT INTO taptik_packages (likes) VALUES (1)")  # writes are not blocked
