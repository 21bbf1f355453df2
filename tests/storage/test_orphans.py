"""`taptik-db orphans`: every object of the store against every reference in the database."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storage_tasks.orphans import ReferencedKeys, find_orphans
from storage_tasks.package_rows import table_exists
from storage_tasks.stores import s3 as s3_backend
from tests.storage.conftest import keys, run


def _reference(engine, user_id, key):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO taptik_packages (user_id, name, config_id, checksum, storage_url) "
                "VALUES (:u, :k, 'c', 'x', :k)"
            ),
            {"u": user_id, "k": key},
        )


@pytest.fixture
def layout(user_id, store, engine):
    """Two referenced objects (one by a full public URL) and two orphans."""
    for key in ("u/ref1.taptik", "u/ref2.taptik", "u/orphan1.taptik", "other/orphan2.taptik"):
        store.put(key, b"{}", content_type="application/json")
    _reference(engine, user_id, "u/ref1.taptik")
    _reference(engine, user_id, "https://x.supabase.co/storage/v1/object/public/taptik-packages/u/ref2.taptik")
    return store


def test_lists_orphans_and_deletes_nothing_by_default(layout, migrated_url):
    report = find_orphans(older_than=timedelta(0))
    assert {o.key for o in report.orphans} == {"u/orphan1.taptik", "other/orphan2.taptik"}
    assert report.scanned == 4 and report.referenced == 2
    assert len(keys(layout)) == 4


def test_delete_removes_only_orphans_past_the_grace_period(layout, migrated_url):
    young = find_orphans(older_than=timedelta(hours=1), delete=True)
    assert young.deleted == [] and len(keys(layout)) == 4  # just uploaded: maybe its row is on its way
    result = run("orphans", "--older-than", "0s", "--delete", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["deleted"]) == ["other/orphan2.taptik", "u/orphan1.taptik"]
    assert keys(layout) == {"u/ref1.taptik", "u/ref2.taptik"}


def test_dry_run_deletes_nothing(layout, migrated_url):
    result = run("orphans", "--older-than", "0s", "--delete", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 would be deleted (dry run)" in result.output
    assert len(keys(layout)) == 4


def test_objects_beyond_the_first_page_are_scanned(user_id, store, engine, storage_url, monkeypatch):
    monkeypatch.setattr(s3_backend, "PAGE_SIZE", 5)
    for i in range(23):
        store.put(f"p/{i:02d}", b"x", content_type="text/plain")
        if i % 2 == 0:
            _reference(engine, user_id, f"p/{i:02d}")
    report = find_orphans(storage_url=storage_url, older_than=timedelta(0), delete=True)
    assert report.scanned == 23
    assert len(report.deleted) == 11
    assert keys(store) == {f"p/{i:02d}" for i in range(0, 23, 2)}


def test_package_versions_references_count(user_id, file_store, engine, admin_engine, migrated_url):
    with admin_engine.begin() as conn:
        if not table_exists(conn, "package_versions"):  # before the v2 chain: the shape it will have
            conn.execute(
                sa.text(
                    "CREATE TABLE public.package_versions (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
                    "package_id uuid, version text, changelog text, storage_url text, checksum text, "
                    "created_at timestamptz DEFAULT now())"
                )
            )
    _reference(engine, user_id, "v/current.taptik")
    with admin_engine.begin() as conn:
        package_id = conn.execute(sa.text("SELECT id FROM taptik_packages")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO package_versions (package_id, version, storage_url, checksum) "
                "VALUES (:p, '0.9.0', 'v/old.taptik', 'x')"
            ),
            {"p": package_id},
        )
    for key in ("v/current.taptik", "v/old.taptik", "v/stray.taptik"):
        file_store.put(key, b"x", content_type="text/plain")
    report = find_orphans(older_than=timedelta(0))
    assert [o.key for o in report.orphans] == ["v/stray.taptik"]


def test_referenced_keys_membership_is_exact_for_present_keys():
    present = [f"{uuid.uuid4()}/{i}.taptik" for i in range(2000)]
    ref = ReferencedKeys(iter(present))
    assert len(ref) == 2000
    assert all(k in ref for k in present)
    assert sum(f"absent/{i}" in ref for i in range(2000)) == 0


def test_bad_grace_period_is_a_usage_error():
    result = run("orphans", "--older-than", "tomorrow")
    assert result.exit_code == 2
    assert "not a duration" in result.output
