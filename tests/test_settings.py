"""Settings: the URL forms Supabase hands out, and secrets kept out of repr."""

import pytest

from taptik_models.errors import ConfigError
from taptik_models.settings import load_settings, normalize_database_url, redact_url


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://postgres:pw@db.abc.supabase.co:5432/postgres",
        "postgresql://postgres:pw@db.abc.supabase.co:5432/postgres",
        "postgresql+psycopg://postgres:pw@db.abc.supabase.co:5432/postgres",
    ],
)
def test_supabase_url_forms_normalize_to_psycopg(raw):
    assert normalize_database_url(raw) == "postgresql+psycopg://postgres:pw@db.abc.supabase.co:5432/postgres"


@pytest.mark.parametrize(
    "raw, message",
    [
        ("mysql://u:p@h/db", "must start with postgres://"),
        ("not a url", "is not a database URL"),
        ("postgresql:///nohost", "names no host"),
    ],
)
def test_bad_database_urls_raise_config_error(raw, message):
    with pytest.raises(ConfigError, match=message):
        normalize_database_url(raw)


def test_settings_repr_hides_secrets(tmp_path):
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://postgres:hunter2@h:5432/postgres",
            "SUPABASE_SERVICE_ROLE_KEY": "service-key-xyz",
            "TAPTIK_HOME": str(tmp_path),
        }
    )
    text = repr(settings)
    assert "hunter2" not in text and "service-key-xyz" not in text
    assert "postgres:***@h:5432" in text


def test_redact_url_hides_password():
    assert redact_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
