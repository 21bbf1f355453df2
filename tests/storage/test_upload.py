"""`taptik-db upload`: files stored and verified before rows are written, rows before local files go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage_tasks.errors import ManifestError, UnknownUser
from storage_tasks.export import export_packages
from storage_tasks.package_rows import package_columns
from storage_tasks.stores import ObjectStore
from storage_tasks.upload import upload_packages
from taptik_models.errors import StorageError
from tests.storage.conftest import keys, rows, run, write_package


@pytest.fixture
def manifest(packages_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    export_packages(packages_dir, path)
    return path


def _entries(manifest: Path) -> list[dict]:
    return json.loads(manifest.read_text())["packages"]


def test_upload_stores_files_and_records_rows(manifest, user_id, storage_url, store, engine):
    result = run("upload", "--manifest", str(manifest), "--user-id", user_id, "--yes", "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert "3 uploaded, 0 skipped, 0 failed" in result.output
    expected = {f"{user_id}/{e['sha256']}.taptik": e for e in _entries(manifest)}
    assert keys(store) == set(expected)
    found = rows(engine)
    assert [r["name"] for r in found] == ["alpha", "beta", "gamma"]
    for row in found:
        entry = expected[row["storage_url"]]
        assert (row["checksum"], row["file_size"], str(row["user_id"])) == (entry["sha256"], entry["size"], user_id)
        assert (row["title"], row["platform"], row["version"]) == (f"{row['name']} title", "claude-code", "2.1.0")
        assert row["config_id"] and row["is_public"] is False
        assert row["user_tags"] == ["ai", row["name"]]
        assert row["metadata"]["description"] == f"{row['name']} description"
        if "description" in row:  # v2 schema
            assert row["description"] == f"{row['name']} description"


def test_second_run_skips_what_is_uploaded(manifest, user_id, storage_url, engine):
    upload_packages(manifest, user_id, storage_url=storage_url)
    again = upload_packages(manifest, user_id, storage_url=storage_url)
    assert [o.status for o in again.outcomes] == ["skipped"] * 3
    assert rows(engine, "SELECT count(*) AS n FROM taptik_packages")[0]["n"] == 3


def test_dry_run_changes_nothing(manifest, user_id, storage_url, store, engine):
    result = run("upload", "--manifest", str(manifest), "--user-id", user_id, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"]["planned"] == 3
    assert keys(store) == set() and rows(engine) == []


def test_refused_confirmation_changes_nothing(manifest, user_id, file_store, engine):
    result = run("upload", "--manifest", str(manifest), "--user-id", user_id, input="n\n")
    assert result.exit_code == 1
    assert keys(file_store) == set() and rows(engine) == []


def test_remove_local_deletes_only_verified_and_recorded_files(manifest, user_id, storage_url, engine):
    result = upload_packages(manifest, user_id, storage_url=storage_url, remove_local=True)
    assert len(result.removed_local) == 3
    assert not any(Path(e["path"]).exists() for e in _entries(manifest))
    assert len(rows(engine)) == 3


def test_unknown_user_is_refused_before_anything_is_stored(manifest, migrated_url, file_store, engine):
    nobody = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(UnknownUser, match="does not exist"):
        upload_packages(manifest, nobody)
    result = run("upload", "--manifest", str(manifest), "--user-id", nobody, "--yes")
    assert result.exit_code == 2
    assert keys(file_store) == set() and rows(engine) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json at all", "is not JSON"), ('{"packages": {"a": 1}}', "no 'packages' list"), ("[]", "no 'packages'")],
)
def test_bad_manifest_is_one_clear_line(tmp_path, user_id, file_store, engine, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ManifestError, match=message):
        upload_packages(bad, user_id)
    assert keys(file_store) == set() and rows(engine) == []


def test_manifest_entry_with_bad_checksum_is_refused(manifest, tmp_path, user_id, file_storage_url):
    doc = json.loads(manifest.read_text())
    doc["packages"][0]["sha256"] = "../../etc/passwd"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="sha256 must be 64 hex digits"):
        upload_packages(manifest, user_id)


class FailingAfter:
    """A store whose puts start failing after `n` successes, as a storage outage halfway would."""

    def __init__(self, inner: ObjectStore, n: int, *, corrupt: bool = False):
        self.inner, self.remaining, self.corrupt = inner, n, corrupt
        self.url = inner.url

    def put(self, key, source, **kwargs):
        if self.remaining <= 0:
            if self.corrupt:  # stores something, but not the file: verification must catch it
                return self.inner.put(key, b"truncated", **(kwargs | {"sha256": None}))
            raise StorageError(f"put {key}: 503 service unavailable")
        self.remaining -= 1
        return self.inner.put(key, source, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_storage_failing_halfway_then_rerun_completes(tmp_path, user_id, storage_url, store, engine):
    folder = tmp_path / "many"
    for i in range(10):
        write_package(folder, f"p{i}.taptik", {"name": f"p{i}", "platform": "cursor"})
    manifest = tmp_path / "m.json"
    export_packages(folder, manifest)

    first = upload_packages(manifest, user_id, store=FailingAfter(store, 4), remove_local=True, concurrency=1)
    assert len(first.by_status("uploaded")) == 4 and len(first.by_status("failed")) == 6
    assert all("503" in o.detail for o in first.by_status("failed"))
    assert len(rows(engine)) == 4
    for outcome in first.outcomes:  # a file is gone only if its upload was verified and recorded
        assert Path(outcome.path).exists() == (outcome.status == "failed")

    second = upload_packages(manifest, user_id, store=store, remove_local=True)
    assert len(second.by_status("skipped")) == 4 and len(second.by_status("uploaded")) == 6
    recorded = rows(engine, "SELECT checksum, count(*) AS n FROM taptik_packages GROUP BY checksum")
    assert len(recorded) == 10 and all(r["n"] == 1 for r in recorded)
    assert len(keys(store)) == 10
    assert list(folder.glob("*.taptik")) == []


def test_corrupted_upload_is_not_recorded_and_local_file_stays(manifest, user_id, storage_url, store, engine):
    result = upload_packages(
        manifest, user_id, store=FailingAfter(store, 1, corrupt=True), remove_local=True, concurrency=1
    )
    assert len(result.by_status("uploaded")) == 1
    failed = result.by_status("failed")
    assert len(failed) == 2 and all("expected" in o.detail for o in failed)
    assert len(rows(engine)) == 1
    assert all(Path(o.path).exists() for o in failed)


def test_failed_upload_exits_non_zero_and_lists_each_error(manifest, user_id, file_storage_url, engine):
    Path(_entries(manifest)[1]["path"]).unlink()
    result = run("upload", "--manifest", str(manifest), "--user-id", user_id, "--yes")
    assert result.exit_code == 1
    assert "failed: beta" in result.output and "local file is gone" in result.output
    assert "2 uploaded, 0 skipped, 1 failed" in result.output


def test_rows_fit_the_schema_the_database_has(manifest, user_id, file_storage_url, engine):
    upload_packages(manifest, user_id, public=True)
    with engine.connect() as conn:
        columns = package_columns(conn)
        public = conn.execute(sa.text("SELECT bool_and(is_public) FROM taptik_packages")).scalar_one()
    assert public is True
    assert {"config_id", "checksum", "storage_url"} <= columns
