"""The infra tests' shared mock runs (one per stack per session) serve these tests too."""

from tests.infra.conftest import build, dev  # noqa: F401  (fixtures)
