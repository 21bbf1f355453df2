"""The v2 chain on a messy v1 dataset: every rule of the upgrade, and downgrades that lose nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import HEAD
from tests.messy_v1 import column_snapshot, insert_messy_v1, public_snapshot

REVISIONS = ["0002", "0003", "0004", "0005", "0006", "0007"]


@pytest.fixture
def messy(alembic_runner, engine):
    alembic_runner.migrate_up_to("0001")
    with engine.begin() as conn:
        data = insert_messy_v1(conn)
        data["v1"] = public_snapshot(conn)
    data["engine"] = engine
    return data


@pytest.fixture
def at_head(messy, alembic_runner):
    alembic_runner.migrate_up_to("heads")
    return messy


def _row(conn, package_id, columns="*", table="taptik_packages"):
    return conn.execute(sa.text(f"SELECT {columns} FROM {table} WHERE id = :id"), {"id": package_id}).mappings().one()


def test_description_title_and_tags_backfilled_from_metadata(at_head):
    ids = at_head["ids"]
    with at_head["engine"].connect() as conn:
        full = _row(conn, ids["meta_full"])
        assert (full["description"], full["title"], full["user_tags"]) == ("Meta desc", "Meta Title", ["x", "y"])
        own = _row(conn, ids["meta_title_only"])
        assert own["title"] == "Own Title"  # an existing title is never overwritten
        assert own["description"] == "Package meta_title_only"
        assert _row(conn, ids["no_meta"])["description"] == "Package no_meta"
        assert _row(conn, ids["tags_not_array"])["user_tags"] is None
        levels = conn.execute(sa.text("SELECT DISTINCT sanitization_level FROM taptik_packages")).scalars().all()
        assert levels == ["none"]


def test_platforms_and_tags_are_normalized(at_head):
    ids = at_head["ids"]
    with at_head["engine"].connect() as conn:
        mixed = _row(conn, ids["mixed_platform"])
        assert mixed["platform"] == "claude-code"
        assert mixed["user_tags"] == ["ai", "rust"]
        caps = _row(conn, ids["cursor_caps"])
        assert (caps["platform"], caps["user_tags"]) == ("cursor", ["vim"])
        assert _row(conn, ids["empty_tags"])["user_tags"] == []


def test_defaults_fill_gaps_and_required_fields_are_not_null(at_head):
    with at_head["engine"].connect() as conn:
        row = _row(conn, at_head["ids"]["null_everything_optional"])
        assert (row["version"], row["is_public"], row["download_count"]) == ("1.0.0", False, 0)
        not_null = set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = 'taptik_packages' AND is_nullable = 'NO'"
                )
            ).scalars()
        )
        assert {"config_id", "user_id", "name", "checksum", "storage_url", "description", "version"} <= not_null
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("INSERT INTO taptik_packages (name) VALUES ('x')"))


def test_rows_missing_required_fields_are_quarantined_with_reason(at_head):
    ids = at_head["ids"]
    with at_head["engine"].connect() as conn:
        reasons = dict(conn.execute(sa.text("SELECT id, reason FROM taptik_packages_quarantine")).all())
        remaining = set(conn.execute(sa.text("SELECT id FROM taptik_packages")).scalars())
    assert reasons == {
        ids["missing_checksum"]: "missing required field(s): checksum",
        ids["missing_user"]: "missing required field(s): user_id",
        ids["missing_config_and_name"]: "missing required field(s): config_id, name, storage_url",
    }
    assert not remaining & set(reasons)
    assert len(remaining) + len(reasons) == len(ids)


def test_download_counts_become_events(at_head):
    ids = at_head["ids"]
    with at_head["engine"].connect() as conn:
        per_package = dict(
            conn.execute(
                sa.text(
                    "SELECT package_id, count(*) FROM package_analytics "
                    "WHERE event_type = 'download' AND metadata = '{\"migrated\": true}' GROUP BY 1"
                )
            ).all()
        )
        archived = conn.execute(
            sa.text("SELECT count(*) FROM taptik_archive.package_analytics_quarantined_0007")
        ).scalar()
    assert per_package == {ids["no_meta"]: 3, ids["big_downloads"]: 250}
    assert archived == 2  # missing_checksum's events, kept with the quarantined row


def test_one_version_per_package(at_head):
    with at_head["engine"].connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT p.id, v.version, v.storage_url = p.storage_url AS same_file, "
                "v.checksum = p.checksum AS same_sum "
                "FROM taptik_packages p LEFT JOIN package_versions v ON v.package_id = p.id"
            )
        ).all()
    assert rows and all(r.version is not None and r.same_file and r.same_sum for r in rows)
    null_version = {r.version for r in rows if r.id == at_head["ids"]["null_everything_optional"]}
    assert null_version == {"1.0.0"}


def test_downgrade_to_baseline_restores_v1_exactly_and_upgrade_restores_head(at_head, alembic_runner):
    engine = at_head["engine"]
    with engine.connect() as conn:
        head_state = public_snapshot(conn)
        head_shape = column_snapshot(conn)
    alembic_runner.migrate_down_to("0001")
    with engine.connect() as conn:
        assert public_snapshot(conn) == at_head["v1"]
    alembic_runner.migrate_up_to("heads")
    with engine.connect() as conn:
        assert public_snapshot(conn) == head_state
        assert column_snapshot(conn) == head_shape
        pre_image_tables = conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'taptik_archive' AND tablename LIKE 'pre_images%'"
            )
        ).scalars()
    # The downgrade's own pre-images (0003-downgrade) were restored and dropped by the upgrade.
    assert sorted(pre_image_tables) == [f"pre_images_{rev}_taptik_packages" for rev in ("0003", "0006", "0007")]


def test_head_to_base_to_head_keeps_every_row(at_head, alembic_runner):
    engine = at_head["engine"]
    with engine.connect() as conn:
        head_state = public_snapshot(conn)
    alembic_runner.migrate_down_to("base")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.taptik_packages')")).scalar() is None
    alembic_runner.migrate_up_to("heads")
    with engine.connect() as conn:
        assert public_snapshot(conn) == head_state


@pytest.mark.parametrize("revision", REVISIONS)
def test_each_revision_round_trips(messy, alembic_runner, revision):
    engine = messy["engine"]
    previous = REVISIONS[REVISIONS.index(revision) - 1] if revision != "0002" else "0001"
    alembic_runner.migrate_up_to(previous)
    with engine.connect() as conn:
        before = public_snapshot(conn)
    alembic_runner.migrate_up_one()
    with engine.connect() as conn:
        after = public_snapshot(conn)
    alembic_runner.migrate_down_one()
    with engine.connect() as conn:
        assert public_snapshot(conn) == before
    alembic_runner.migrate_up_one()
    with engine.connect() as conn:
        assert public_snapshot(conn) == after


def test_rows_written_after_upgrade_survive_downgrade_in_metadata(at_head, alembic_runner):
    engine = at_head["engine"]
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.text(
                "INSERT INTO taptik_packages (config_id, user_id, name, checksum, storage_url, description, title, "
                "user_tags, likes) VALUES ('c', :u, 'fresh', 'b', 'k', 'Written by v2', 'T', ARRAY['t1'], 5) "
                "RETURNING id"
            ),
            {"u": at_head["alice"]},
        ).scalar()
        conn.execute(
            sa.text("UPDATE taptik_packages SET description = 'Edited under v2' WHERE id = :id"),
            {"id": at_head["ids"]["meta_full"]},
        )
    alembic_runner.migrate_down_to("0001")
    with engine.connect() as conn:
        fresh = conn.execute(sa.text("SELECT metadata, title, user_tags FROM taptik_packages WHERE id = :id"),
                             {"id": new_id}).one()  # fmt: skip
        edited = conn.execute(sa.text("SELECT metadata FROM taptik_packages WHERE id = :id"),
                              {"id": at_head["ids"]["meta_full"]}).scalar()  # fmt: skip
    assert fresh.metadata == {"description": "Written by v2"}
    assert (fresh.title, fresh.user_tags) == ("T", ["t1"])
    assert edited["description"] == "Edited under v2"
    alembic_runner.migrate_up_to("heads")
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT metadata, description, likes FROM taptik_packages WHERE id = :id"),
                            {"id": new_id}).one()  # fmt: skip
    assert back.metadata is None and back.description == "Written by v2" and back.likes == 5


def test_values_changed_after_upgrade_are_not_reverted_by_downgrade(at_head, alembic_runner):
    engine = at_head["engine"]
    pid = at_head["ids"]["mixed_platform"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE taptik_packages SET platform = 'kiro' WHERE id = :id"), {"id": pid})
    alembic_runner.migrate_down_to("0001")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT platform, user_tags FROM taptik_packages WHERE id = :id"), {"id": pid}).one()
    assert row.platform == "kiro"  # newer than both pre-image and normalized value
    assert row.user_tags == [" AI", "ai", "", "Rust ", None, "rust"]  # untouched since: pre-image restored


def test_chain_reaches_head(at_head, engine):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
