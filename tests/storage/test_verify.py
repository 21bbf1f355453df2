"""`taptik-db verify`: each check fails on the fault it is for, and the whole report is ok otherwise."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from storage_tasks.export import export_packages
from storage_tasks.upload import upload_packages
from storage_tasks.verify import verify
from tests.storage.conftest import run


def _checks(report) -> dict[str, bool]:
    return {c.name: c.ok for c in report.checks}


def _upload(packages_dir, tmp_path, user_id) -> list[str]:
    manifest = tmp_path / "m.json"
    export_packages(packages_dir, manifest)
    return [o.key for o in upload_packages(manifest, user_id).outcomes]


@pytest.fixture
def uploaded(packages_dir, tmp_path, user_id, storage_url):
    """Three packages on each backend."""
    return _upload(packages_dir, tmp_path, user_id)


@pytest.fixture
def uploaded_locally(packages_dir, tmp_path, user_id, file_storage_url):
    """Three packages, for checks that never look at storage."""
    return _upload(packages_dir, tmp_path, user_id)


def test_a_consistent_database_and_store_pass(uploaded, migrated_url):
    result = run("verify", "--checksums", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert {c["name"] for c in report["checks"]} == {
        "alembic_at_head",
        "schema_matches_models",
        "required_fields_not_null",
        "package_users_exist",
        "storage_objects_match_rows_with_checksums",
    }


def test_missing_and_resized_objects_fail_the_storage_check(uploaded, store, migrated_url):
    store.delete([uploaded[0]])
    store.put(uploaded[1], b"shorter", content_type="application/json")
    report = verify(storage=True)
    assert _checks(report)["storage_objects_match_rows"] is False
    details = report.checks[-1].details
    assert details["problems"] == 2 and details["checked"] == 3


def test_changed_content_of_the_same_size_fails_only_with_checksums(uploaded, store, migrated_url):
    size = store.stat(uploaded[0]).size
    store.put(uploaded[0], b"x" * size, content_type="application/json")
    assert verify(storage=True).ok
    assert _checks(verify(checksums=True))["storage_objects_match_rows_with_checksums"] is False


def test_package_of_a_deleted_user_fails(uploaded_locally, admin_engine, migrated_url):
    with admin_engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # skip the FK's cascade
        conn.execute(sa.text("DELETE FROM auth.users"))
    result = run("verify")
    assert result.exit_code == 1
    assert "FAIL package_users_exist: {'packages_without_user': 3}" in result.output


def test_missing_constraint_and_old_revision_fail(uploaded_locally, admin_engine, migrated_url):
    with admin_engine.begin() as conn:
        fk = conn.execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'public.taptik_packages'::regclass "
                "AND contype = 'f' AND confrelid = 'auth.users'::regclass"
            )
        ).scalar_one()
        conn.execute(sa.text(f'ALTER TABLE public.taptik_packages DROP CONSTRAINT "{fk}"'))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    checks = _checks(verify())
    assert checks["schema_matches_models"] is False
    assert checks["alembic_at_head"] is False
    assert checks["required_fields_not_null"] is True


def test_null_required_fields_are_counted(migrated_url, admin_engine, user_id):
    with admin_engine.begin() as conn:
        nullable = conn.execute(
            sa.text(
                "SELECT is_nullable = 'YES' FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'taptik_packages' AND column_name = 'checksum'"
            )
        ).scalar_one()
        if not nullable:
            conn.execute(sa.text("ALTER TABLE public.taptik_packages ALTER COLUMN checksum DROP NOT NULL"))
        conn.execute(
            sa.text("INSERT INTO taptik_packages (user_id, name, config_id, storage_url) VALUES (:u, 'n', 'c', 'k')"),
            {"u": user_id},
        )
    check = next(c for c in verify().checks if c.name == "required_fields_not_null")
    assert check.ok is False and check.details == {"checksum": 1}
