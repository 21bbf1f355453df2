"""SQLAlchemy 2.0 models of the head schema, its RLS policies, settings and the Supabase environment."""

from taptik_models.base import NAMING_CONVENTION, Base
from taptik_models.packages import TaptikPackage
from taptik_models.policies import POLICIES

metadata = Base.metadata

__all__ = ["NAMING_CONVENTION", "POLICIES", "Base", "TaptikPackage", "metadata"]
