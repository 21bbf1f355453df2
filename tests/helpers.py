"""Small helpers tests share: building users and packages with SQL, acting as an API role."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def add_user(conn: Connection, user_id: uuid.UUID | None = None) -> uuid.UUID:
    user_id = user_id or uuid.uuid4()
    conn.execute(
        sa.text("INSERT INTO auth.users (id, email) VALUES (:id, :email)"),
        {"id": user_id, "email": f"{user_id}@example.test"},
    )
    return user_id


def act_as(conn: Connection, role: str, user_id: uuid.UUID | None = None) -> None:
    """Switch this transaction to an API role with a JWT, as PostgREST does."""
    conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
    claims = {"role": role} | ({"sub": str(user_id)} if user_id else {})
    conn.execute(sa.text("SELECT set_config('request.jwt.claims', :c, true)"), {"c": json.dumps(claims)})
