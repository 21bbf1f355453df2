"""The v1 baseline: the table DESIGN.md describes, its RLS policies, and a downgrade that archives."""

import os
import uuid

import pytest
import sqlalchemy as sa

from tests.helpers import act_as, add_user


@pytest.fixture
def v1(alembic_runner, engine):
    alembic_runner.migrate_up_to("0001")
    return engine


def _package(conn, owner, *, public, name):
    return conn.execute(
        sa.text("INSERT INTO taptik_packages (user_id, name, is_public) VALUES (:u, :n, :p) RETURNING id"),
        {"u": owner, "n": name, "p": public},
    ).scalar_one()


@pytest.fixture
def packages(v1):
    with v1.begin() as conn:
        alice, bob = add_user(conn), add_user(conn)
        ids = {
            "alice_private": _package(conn, alice, public=False, name="alice_private"),
            "alice_public": _package(conn, alice, public=True, name="alice_public"),
            "bob_private": _package(conn, bob, public=False, name="bob_private"),
        }
    return {"alice": alice, "bob": bob, "ids": ids, "engine": v1}


def _visible(engine, role, user=None):
    with engine.begin() as conn:
        act_as(conn, role, user)
        return set(conn.execute(sa.text("SELECT name FROM taptik_packages")).scalars())


def test_v1_table_has_design_columns(v1):
    with v1.connect() as conn:
        cols = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = 'taptik_packages'"
                )
            ).all()
        )
    assert cols == {
        "id": "uuid",
        "config_id": "text",
        "user_id": "uuid",
        "name": "text",
        "title": "text",
        "platform": "text",
        "version": "text",
        "is_public": "boolean",
        "download_count": "integer",
        "user_tags": "ARRAY",
        "metadata": "jsonb",
        "checksum": "text",
        "storage_url": "text",
        "file_size": "bigint",
        "created_at": "timestamp with time zone",
        "updated_at": "timestamp with time zone",
    }


def test_v1_user_deletion_cascades(packages):
    with packages["engine"].begin() as conn:
        conn.execute(sa.text("DELETE FROM auth.users WHERE id = :u"), {"u": packages["bob"]})
        left = set(conn.execute(sa.text("SELECT name FROM taptik_packages")).scalars())
    assert left == {"alice_private", "alice_public"}


def test_authenticated_user_sees_own_and_public_packages(packages):
    assert _visible(packages["engine"], "authenticated", packages["alice"]) == {
        "alice_private",
        "alice_public",
    }
    assert _visible(packages["engine"], "authenticated", packages["bob"]) == {"alice_public", "bob_private"}


def test_anon_sees_only_public_packages(packages):
    assert _visible(packages["engine"], "anon") == {"alice_public"}


def test_user_cannot_update_or_delete_another_users_package(packages):
    with packages["engine"].begin() as conn:
        act_as(conn, "authenticated", packages["bob"])
        updated = conn.execute(
            sa.text("UPDATE taptik_packages SET title = 'x' WHERE id = :id"),
            {"id": packages["ids"]["alice_public"]},
        ).rowcount
        deleted = conn.execute(
            sa.text("DELETE FROM taptik_packages WHERE id = :id"), {"id": packages["ids"]["alice_private"]}
        ).rowcount
    assert (updated, deleted) == (0, 0)


def test_user_can_update_own_package(packages):
    with packages["engine"].begin() as conn:
        act_as(conn, "authenticated", packages["alice"])
        updated = conn.execute(
            sa.text("UPDATE taptik_packages SET title = 'mine' WHERE id = :id"),
            {"id": packages["ids"]["alice_private"]},
        ).rowcount
    assert updated == 1


def test_user_cannot_insert_a_package_for_someone_else(packages):
    with (
        pytest.raises(sa.exc.ProgrammingError, match="row-level security"),
        packages["engine"].begin() as conn,
    ):
        act_as(conn, "authenticated", packages["bob"])
        _package(conn, packages["alice"], public=True, name="forged")


def test_downgrade_archives_rows_and_upgrade_restores_them(packages, alembic_runner):
    engine = packages["engine"]
    snapshot = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {} t"
    with engine.connect() as conn:
        before = conn.execute(sa.text(snapshot.format("taptik_packages"))).scalar_one()
    alembic_runner.migrate_down_to("base")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.taptik_packages')")).scalar() is None
        archived = conn.execute(sa.text(snapshot.format("taptik_archive.taptik_packages"))).scalar_one()
    assert archived == before
    alembic_runner.migrate_up_to("0001")
    with engine.connect() as conn:
        assert conn.execute(sa.text(snapshot.format("taptik_packages"))).scalar_one() == before
        assert conn.execute(sa.text("SELECT to_regclass('taptik_archive.taptik_packages')")).scalar() is None
    assert _visible(engine, "anon") == {"alice_public"}


@pytest.mark.skipif(
    bool(os.environ.get("TAPTIK_TEST_DATABASE_URL")),
    reason="TAPTIK_TEST_DATABASE_URL: migrations run as that URL's user",
)
def test_migrator_is_not_a_superuser(v1):
    """The suite migrates as Supabase's postgres role does: a revision needing superuser fails here."""
    with v1.connect() as conn:
        assert conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False


def test_random_uuid_package_ids(v1):
    with v1.begin() as conn:
        owner = add_user(conn, uuid.uuid4())
        a = _package(conn, owner, public=False, name="a")
    assert isinstance(a, uuid.UUID)
