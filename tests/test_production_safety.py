"""Small-scale versions of the production guarantees: lock-safe DDL, resumable batches, rebuilt indexes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from tests.conftest import ROOT, run_alembic
from tests.helpers import LIKES_INDEX_STATE, make_invalid_likes_index, rows_done_in_flight, seed_packages


def _version(conn) -> str:
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_migrator_blocked_by_a_lock_retries_then_fails_cleanly(engine, db_url):
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT count(*) FROM taptik_packages"))  # ACCESS SHARE until rollback
        started = time.monotonic()
        result = run_alembic("-x", "lock_timeout=100ms", "upgrade", "head", database_url=db_url, timeout=60)
        elapsed = time.monotonic() - started
        holder.rollback()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.count("lock not granted (attempt") == 4
    assert "gave up after 5 attempts to lock for: ALTER TABLE public.taptik_packages ADD COLUMN" in result.stderr
    assert elapsed < 30
    with engine.connect() as conn:
        assert _version(conn) == "0002"  # 0003 rolled back whole
    assert run_alembic("upgrade", "head", database_url=db_url).returncode == 0


def test_killed_backfill_resumes_without_duplicates(engine, db_url):
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=200, downloads=5)
    assert run_alembic("upgrade", "0003", database_url=db_url).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": db_url}
    migrator = subprocess.Popen(
        [sys.executable, "-m", "alembic", "-x", "batch_rows=10", "-x", "batch_pause=0.05", "upgrade", "0004"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while True:
            assert time.monotonic() < deadline and migrator.poll() is None, "never caught the backfill running"
            done = rows_done_in_flight(conn, "0004")
            conn.rollback()
            if done and done >= 100:
                break
            time.sleep(0.02)
    os.kill(migrator.pid, signal.SIGKILL)
    migrator.wait()
    with engine.connect() as conn:
        assert _version(conn) == "0003"
        partial = conn.execute(sa.text("SELECT count(*) FROM package_analytics")).scalar()
    assert 0 < partial < 1000
    rerun = run_alembic("upgrade", "head", database_url=db_url)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming after key" in rerun.stderr
    with engine.connect() as conn:
        counts = conn.execute(
            sa.text("SELECT count(*) AS n FROM package_analytics GROUP BY package_id")
        ).scalars().all()  # fmt: skip
        leftover = conn.execute(sa.text("SELECT count(*) FROM taptik_archive.taptik_migration_progress")).scalar()
    assert len(counts) == 200 and set(counts) == {5}
    assert leftover == 0


def test_invalid_index_from_a_failed_concurrent_build_is_rebuilt(engine, db_url):
    make_invalid_likes_index(engine, db_url)
    with engine.connect() as conn:
        conn.connection.dbapi_connection.autocommit = True
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")  # as if 0003 was killed there
        valid = LIKES_INDEX_STATE
        assert conn.exec_driver_sql(valid).one() == (False, True)
        result = run_alembic("upgrade", "0003", database_url=db_url)
        assert result.returncode == 0, result.stderr
        assert "dropping invalid index ix_taptik_packages_likes" in result.stderr
        assert conn.exec_driver_sql(valid).one() == (True, False)


def _start_slow_0003(db_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": db_url}
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", "-x", "batch_rows=10", "-x", "batch_pause=0.2", "-x", "lock_timeout=20s",
         "upgrade", "0003"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_first_batch(watcher, migrator, deadline: float) -> None:
    while not rows_done_in_flight(watcher, "0003"):  # the backfill has started: DDL is behind us
        watcher.rollback()
        assert time.monotonic() < deadline and migrator.poll() is None
        time.sleep(0.02)


def _wait_for_migrator_waiting_on_a_lock(watcher, migrator, deadline: float) -> None:
    while not watcher.execute(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taptik-migrator' "
            "AND wait_event_type = 'Lock' AND datname = current_database()"
        )
    ).scalar():
        watcher.rollback()
        assert time.monotonic() < deadline and migrator.poll() is None
        time.sleep(0.02)


def test_backfill_never_overwrites_what_the_application_writes_meanwhile(engine, db_url):
    """A row the application updates while a batch waits for it keeps the application's value.

    The batch skips that row (its new version has another ctid) and the catch-up pass
    backfills it from the application's version.
    """
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=100, downloads=0)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE taptik_packages SET metadata = '{"title": "From metadata"}'"""))
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    migrator = _start_slow_0003(db_url)
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:
        _wait_for_first_batch(watcher, migrator, deadline)
        with engine.connect() as app:
            # The physically last row not backfilled yet: the sweep reaches its block last.
            row_id = app.execute(
                sa.text(
                    "UPDATE taptik_packages SET title = 'Written by the app' WHERE id = "
                    "(SELECT id FROM taptik_packages WHERE description IS NULL ORDER BY ctid DESC LIMIT 1) RETURNING id"
                )
            ).scalar()
            _wait_for_migrator_waiting_on_a_lock(watcher, migrator, deadline)
            app.commit()  # the waiting batch now sees the application's row version
    _, err = migrator.communicate(timeout=120)
    assert migrator.returncode == 0, err
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT title, description, sanitization_level FROM taptik_packages WHERE id = :id"), {"id": row_id}
        ).one()
        others = conn.execute(sa.text("SELECT count(*) FROM taptik_packages WHERE title = 'From metadata'")).scalar()
    assert row.title == "Written by the app"
    assert row.description is not None and row.sanitization_level == "none"  # backfilled by the catch-up pass
    assert "catch-up pass found 1 rows still to do, changed 1" in err
    assert others == 99


def test_rows_the_application_inserts_during_the_backfill_are_backfilled(engine, db_url):
    """A v1 client keeps inserting while 0003 runs: its rows land past the swept blocks, the catch-up takes them."""
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=60, downloads=0)
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    migrator = _start_slow_0003(db_url)
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:
        _wait_for_first_batch(watcher, migrator, deadline)
        with engine.begin() as app:  # as v1 wrote them: title and tags only in metadata
            app.execute(
                sa.text(
                    "INSERT INTO taptik_packages (config_id, user_id, name, platform, metadata, checksum, storage_url) "
                    "SELECT 'late-' || g, user_id, 'late-' || g, 'vim', "
                    """'{"title": "Late title", "tags": ["late"]}', 'c', 'packages/late-' || g """
                    "FROM taptik_packages, generate_series(1, 3) g LIMIT 3"
                )
            )
    _, err = migrator.communicate(timeout=120)
    assert migrator.returncode == 0, err
    with engine.connect() as conn:
        late = conn.execute(
            sa.text("SELECT title, user_tags, description FROM taptik_packages WHERE name LIKE 'late-%'")
        ).all()
    assert len(late) == 3
    assert all(r.title == "Late title" and r.user_tags == ["late"] and r.description for r in late)
    assert "catch-up pass found 3 rows still to do, changed 3" in err  # not by the sweep: past its last block


def test_downgrade_restores_pre_images_saved_in_the_earlier_jsonb_layout(engine, db_url):
    """A database upgraded before per-revision pre-image tables keeps its jsonb rows; downgrade still restores them."""
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=20, downloads=0)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE taptik_packages SET metadata = '{"title": "From metadata", "tags": ["x"]}'"""))
        v1 = conn.execute(sa.text("SELECT id, title, user_tags FROM taptik_packages ORDER BY id")).all()
    assert run_alembic("upgrade", "0003", database_url=db_url).returncode == 0
    with engine.begin() as conn:  # what the earlier code left: one jsonb row per key in taptik_archive.pre_images
        conn.execute(
            sa.text(
                """CREATE TABLE taptik_archive.pre_images (
                     revision text NOT NULL, table_name text NOT NULL, pk uuid NOT NULL, before jsonb NOT NULL,
                     after jsonb NOT NULL, saved_at timestamptz NOT NULL DEFAULT now(),
                     PRIMARY KEY (revision, table_name, pk))"""
            )
        )
        moved = conn.execute(
            sa.text(
                """INSERT INTO taptik_archive.pre_images (revision, table_name, pk, before, after)
                   SELECT '0003', 'taptik_packages', pk,
                          jsonb_build_object('title', before__title, 'user_tags', before__user_tags),
                          jsonb_build_object('title', after__title, 'user_tags', after__user_tags)
                   FROM taptik_archive.pre_images_0003_taptik_packages"""
            )
        ).rowcount
        conn.execute(sa.text("DROP TABLE taptik_archive.pre_images_0003_taptik_packages"))
    assert moved == 20
    result = run_alembic("downgrade", "0002", database_url=db_url)
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, title, user_tags FROM taptik_packages ORDER BY id")).all() == v1
        assert conn.execute(sa.text("SELECT count(*) FROM taptik_archive.pre_images")).scalar() == 0


def test_killed_block_sweep_resumes_at_its_block_with_one_pre_image_per_row(engine, db_url):
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=400, downloads=0)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE taptik_packages SET metadata = '{"title": "From metadata"}'"""))
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    migrator = _start_slow_0003(db_url)
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:
        while (rows_done_in_flight(watcher, "0003") or 0) < 100:
            watcher.rollback()
            assert time.monotonic() < deadline and migrator.poll() is None, "never caught the sweep running"
            time.sleep(0.02)
    os.kill(migrator.pid, signal.SIGKILL)
    migrator.wait()
    with engine.connect() as conn:
        assert _version(conn) == "0002"
        stopped_at = conn.execute(
            sa.text("SELECT last_key FROM taptik_archive.taptik_migration_progress WHERE revision = '0003'")
        ).scalar()
    rerun = run_alembic("upgrade", "0003", database_url=db_url)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming at block {stopped_at}" in rerun.stderr
    with engine.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT count(*) FROM taptik_packages WHERE title IS NULL OR description IS NULL")
        ).scalar()
        pre_images, keys = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT pk) FROM taptik_archive.pre_images_0003_taptik_packages")
        ).one()
    assert pending == 0
    assert pre_images == keys == 400  # each title filled once, whether before or after the kill


def test_ddl_waiting_for_autovacuum_does_not_queue_the_application(engine, db_url):
    """A session holding SHARE UPDATE EXCLUSIVE (as autovacuum does) delays 0003's ALTER TABLE.

    The migrator waits on its fence lock, which conflicts with no application query: the
    application's UPDATE goes through at once instead of queueing behind a waiting ALTER.
    """
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=5, downloads=0)
    assert run_alembic("upgrade", "0002", database_url=db_url).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": db_url}
    deadline = time.monotonic() + 60
    with engine.connect() as vacuum_like, engine.connect() as watcher, engine.connect() as app:
        vacuum_like.execute(sa.text("LOCK TABLE taptik_packages IN SHARE UPDATE EXCLUSIVE MODE"))
        migrator = subprocess.Popen(
            [sys.executable, "-m", "alembic", "-x", "lock_timeout=10s", "upgrade", "0003"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_for_migrator_waiting_on_a_lock(watcher, migrator, deadline)
        app.execute(sa.text("SET LOCAL statement_timeout = '1s'"))
        updated = app.execute(sa.text("UPDATE taptik_packages SET updated_at = now()")).rowcount
        app.commit()
        assert migrator.poll() is None  # still waiting for the autovacuum-like lock
        vacuum_like.rollback()
        _, err = migrator.communicate(timeout=60)
    assert updated == 5
    assert migrator.returncode == 0, err
