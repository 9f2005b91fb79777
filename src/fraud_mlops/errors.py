"""Errors that speak to the user.

Every mistake a user can make (a bad flag, a broken schema file, a CSV with the wrong columns)
raises a subclass of :class:`FraudMlopsError`. The CLI prints its message and exits non-zero
without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FraudMlopsError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = 2


class ConfigError(FraudMlopsError):
    """A setting, flag or configuration file is invalid."""


class SchemaError(FraudMlopsError):
    """A schema file is missing, unreadable or inconsistent."""


class DataValidationError(FraudMlopsError):
    """Input data does not match its schema. Carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) found, nothing was written:"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class LakehouseError(FraudMlopsError):
    """A lakehouse location cannot be read or written."""


class ModelError(FraudMlopsError):
    """A model artifact is missing, corrupt or does not verify."""
