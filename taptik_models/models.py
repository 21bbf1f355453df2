"""Every model of the head schema, gathered: what env.py and `alembic check` compare against."""

from taptik_models.analytics import PackageAnalytics
from taptik_models.base import NAMING_CONVENTION, Base
from taptik_models.packages import TaptikPackage, TaptikPackageQuarantine
from taptik_models.policies import POLICIES
from taptik_models.teams import Team, TeamMember
from taptik_models.versions import PackageVersion

metadata = Base.metadata

__all__ = [
    "NAMING_CONVENTION",
    "POLICIES",
    "Base",
    "PackageAnalytics",
    "PackageVersion",
    "TaptikPackage",
    "TaptikPackageQuarantine",
    "Team",
    "TeamMember",
    "metadata",
]
