"""v2 row-level security, role by role: owner, team member, other user, anon, service role."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.helpers import act_as, add_user

ROLES = ["owner", "member", "other", "anon", "service"]


@pytest.fixture
def world(alembic_runner, engine):
    alembic_runner.migrate_up_to("heads")
    with engine.begin() as conn:
        owner, member, other = add_user(conn), add_user(conn), add_user(conn)
        team = conn.execute(sa.text("INSERT INTO teams (name) VALUES ('t') RETURNING id")).scalar()
        conn.execute(sa.text("INSERT INTO team_members (team_id, user_id) VALUES (:t, :u)"), {"t": team, "u": member})
        packages = {}
        for kind, public, team_id in [("private", False, None), ("public", True, None), ("team", False, team)]:
            pid = conn.execute(
                sa.text(
                    "INSERT INTO taptik_packages (config_id, user_id, name, checksum, storage_url, is_public, team_id) "
                    "VALUES (:k, :u, :k, 'sum', :k, :p, :t) RETURNING id"
                ),
                {"k": kind, "u": owner, "p": public, "t": team_id},
            ).scalar()
            packages[kind] = pid
            conn.execute(sa.text("INSERT INTO package_versions (package_id, version) VALUES (:p, '1.0.0')"), {"p": pid})
            conn.execute(
                sa.text("INSERT INTO package_analytics (package_id, event_type) VALUES (:p, 'download')"), {"p": pid}
            )
    return {"engine": engine, "packages": packages, "users": {"owner": owner, "member": member, "other": other}}


def _act(conn, world, who):
    if who == "anon":
        act_as(conn, "anon")
    elif who == "service":
        act_as(conn, "service_role")
    else:
        act_as(conn, "authenticated", world["users"][who])


def _visible(world, who, query):
    with world["engine"].begin() as conn:
        _act(conn, world, who)
        ids = set(conn.execute(sa.text(query)).scalars())
    names = {v: k for k, v in world["packages"].items()}
    return {names[i] for i in ids}


VISIBLE_PACKAGES = {
    "owner": {"private", "public", "team"},
    "member": {"public", "team"},
    "other": {"public"},
    "anon": {"public"},
    "service": {"private", "public", "team"},
}


@pytest.mark.parametrize("who", ROLES)
def test_select_packages(world, who):
    assert _visible(world, who, "SELECT id FROM taptik_packages") == VISIBLE_PACKAGES[who]


@pytest.mark.parametrize("who", ROLES)
def test_select_versions_follows_package_visibility(world, who):
    assert _visible(world, who, "SELECT package_id FROM package_versions") == VISIBLE_PACKAGES[who]


@pytest.mark.parametrize(
    "who, expected",
    [("owner", {"private", "public", "team"}), ("member", set()), ("other", set()), ("anon", set()),
     ("service", {"private", "public", "team"})],
)  # fmt: skip
def test_select_analytics_only_for_owner(world, who, expected):
    assert _visible(world, who, "SELECT package_id FROM package_analytics") == expected


WRITERS = {"owner", "service"}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("kind", ["private", "public", "team"])
def test_update_and_delete_packages(world, who, kind):
    pid = world["packages"][kind]
    with world["engine"].begin() as conn:
        _act(conn, world, who)
        updated = conn.execute(sa.text("UPDATE taptik_packages SET title = 'x' WHERE id = :id"), {"id": pid}).rowcount
        conn.execute(sa.text("DELETE FROM package_analytics WHERE package_id = :id"), {"id": pid})
        deleted = conn.execute(sa.text("DELETE FROM taptik_packages WHERE id = :id"), {"id": pid}).rowcount
        conn.rollback()
    expected = 1 if who in WRITERS else 0
    assert (updated, deleted) == (expected, expected)


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("kind", ["private", "public", "team"])
def test_update_and_delete_versions(world, who, kind):
    pid = world["packages"][kind]
    with world["engine"].begin() as conn:
        _act(conn, world, who)
        updated = conn.execute(
            sa.text("UPDATE package_versions SET changelog = 'x' WHERE package_id = :id"), {"id": pid}
        ).rowcount
        deleted = conn.execute(sa.text("DELETE FROM package_versions WHERE package_id = :id"), {"id": pid}).rowcount
        conn.rollback()
    expected = 1 if who in WRITERS else 0
    assert (updated, deleted) == (expected, expected)


@pytest.mark.parametrize("who", ROLES)
def test_insert_package_for_the_owner(world, who):
    owner = world["users"]["owner"]
    statement = sa.text(
        "INSERT INTO taptik_packages (config_id, user_id, name, checksum, storage_url) VALUES ('c', :u, 'n', 's', 'k')"
    )
    with world["engine"].begin() as conn:
        _act(conn, world, who)
        if who in WRITERS:
            conn.execute(statement, {"u": owner})
            conn.rollback()
            return
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(statement, {"u": owner})


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("kind", ["private", "team"])
def test_insert_version(world, who, kind):
    statement = sa.text("INSERT INTO package_versions (package_id, version) VALUES (:p, :v)")
    params = {"p": world["packages"][kind], "v": f"2.0.{uuid.uuid4().int % 1000}"}
    with world["engine"].begin() as conn:
        _act(conn, world, who)
        if who in WRITERS:
            conn.execute(statement, params)
            conn.rollback()
            return
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(statement, params)


@pytest.mark.parametrize("who", ["owner", "member", "other", "anon"])
def test_api_users_cannot_write_analytics_directly(world, who):
    with world["engine"].begin() as conn, pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        _act(conn, world, who)
        conn.execute(
            sa.text("INSERT INTO package_analytics (package_id, event_type) VALUES (:p, 'view')"),
            {"p": world["packages"]["public"]},
        )


def test_quarantine_is_invisible_to_api_users(world):
    with world["engine"].begin() as conn:
        conn.execute(sa.text("INSERT INTO taptik_packages_quarantine (id, reason) VALUES (gen_random_uuid(), 'test')"))
    for who in ["owner", "member", "anon"]:
        with world["engine"].begin() as conn:
            _act(conn, world, who)
            assert conn.execute(sa.text("SELECT count(*) FROM taptik_packages_quarantine")).scalar() == 0
