"""One migrator at a time: the session advisory lock env.py holds for the whole run."""

import os
import subprocess
import sys
import time

import sqlalchemy as sa

from data_migrations.locks import MIGRATION_LOCK_KEY
from storage_tasks.migrator import APPLICATION_NAME
from tests.conftest import HEAD, ROOT


def _spawn_upgrade(db_url, *extra):
    env = {k: v for k, v in os.environ.items() if k != "TAPTIK_TEST_DATABASE_URL"} | {"DATABASE_URL": db_url}
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", *extra, "upgrade", "head"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _migrators_connected(conn) -> int:
    return conn.execute(
        sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app AND datname = current_database()"),
        {"app": APPLICATION_NAME},
    ).scalar()


def test_two_concurrent_upgrades_both_succeed_and_apply_the_chain_once(engine, db_url):
    with engine.connect() as holder:
        # Hold the lock so both migrators are certainly running at the same time.
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
        procs = [_spawn_upgrade(db_url), _spawn_upgrade(db_url)]
        deadline = time.monotonic() + 60
        while _migrators_connected(holder) < 2:
            assert time.monotonic() < deadline, "the migrators never connected"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.1)
            holder.rollback()
        time.sleep(1)  # both are polling for the lock now
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    applied = sum(err.count("Running upgrade  -> 0001") for _, err in outputs)
    assert applied == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def test_lock_wait_is_bounded_and_names_the_holder(engine, db_url):
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        holder.commit()
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        started = time.monotonic()
        proc = _spawn_upgrade(db_url, "-x", "lock_wait=1")
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert "taptik migration lock" in err and f"backend pid {holder_pid}" in err
    assert elapsed < 30
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('alembic_version')")).scalar() is None


def test_lock_is_released_after_a_run(engine, db_url):
    proc = _spawn_upgrade(db_url)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}).scalar()
