"""The head schema of taptik's Supabase database, and what surrounds it.

- `taptik_models.models`: SQLAlchemy 2.0 models of every table, `metadata`, `POLICIES`
- `taptik_models.compat`: the v1/v2 API mapping (pure; revisions may import it)
- `taptik_models.settings`, `taptik_models.errors`, `taptik_models.supabase_env`

Nothing is imported here, so importing a pure submodule never loads the ORM classes.
"""


def __getattr__(name: str):
    # `from taptik_models import metadata` still works, loading the models only on demand.
    if name in ("metadata", "POLICIES", "Base", "NAMING_CONVENTION"):
        from taptik_models import models

        return getattr(models, name)
    raise AttributeError(f"module 'taptik_models' has no attribute {name!r}")
