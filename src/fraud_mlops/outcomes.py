"""Investigators' outcomes: a batch validated, and the salt that keys claims (no pandas).

An outcome says how a claim's investigation ended::

    {"claim_id": "C-1042", "outcome": "fraud" | "legitimate",
     "decided_at": "2026-12-01T09:30:00Z", "reason": "staged accident (optional, <= 500 chars)"}

A batch is accepted whole or refused whole: :func:`validate_outcomes` checks every row and
raises :class:`OutcomeBatchError` listing every problem with its row. ``decided_at`` must be an
ISO-8601 timestamp with a UTC offset (``Z`` or ``+01:00``): a naive time or a date such as
``01/02/2026`` is ambiguous and refused, as is a time more than :data:`FUTURE_SKEW` ahead.
The claim id is stored only as its key (``capture_format.claim_key``, the salt the API's score
capture uses), so outcomes join captured scores without the raw id in the lakehouse.

This module ships in the Lambda zip (``POST /v1/outcomes``): no pandas, no pyarrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, SecretStr, field_validator

from fraud_mlops.capture_format import claim_key
from fraud_mlops.errors import ConfigError, DataValidationError
from fraud_mlops.settings_base import EnvSettings, secret_value

OUTCOMES = ("fraud", "legitimate")
FIELDS = ("claim_id", "outcome", "decided_at", "reason")
REQUIRED = ("claim_id", "outcome", "decided_at")
MAX_REASON_CHARS = 500
MAX_CLAIM_ID_CHARS = 128
FUTURE_SKEW = timedelta(minutes=5)
MIN_SALT_CHARS = 16
_QUOTE = 40  # a value quoted in a problem is cut to this


class ClaimKeySettings(EnvSettings):
    """The salt of the claim key, one setting for score capture and outcomes alike."""

    key_salt: SecretStr | None = Field(
        None,
        validation_alias="CAPTURE_KEY_SALT",
        description="HMAC salt of the stored claim key (at least 16 characters); the same salt "
        "keys captured scores and outcomes, so keep it. Unset = capture and outcomes off",
    )

    @field_validator("key_salt")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_SALT_CHARS:
            raise ValueError(
                f"CAPTURE_KEY_SALT is shorter than {MIN_SALT_CHARS} characters: use a long "
                "random value (e.g. `openssl rand -hex 24`) and keep it"
            )
        return value

    def salt(self) -> str:
        """The salt, or a ConfigError saying how to set it."""
        salt = secret_value(self.key_salt)
        if not salt:
            raise ConfigError(
                "CAPTURE_KEY_SALT is unset: outcomes are keyed with the salt that keyed the "
                "captured scores; set it to the API's value (Pulumi secret captureKeySalt)"
            )
        return salt


@dataclass(frozen=True)
class Outcome:
    """One validated outcome, keyed (never carrying the raw claim id)."""

    claim_key: str
    outcome: str
    decided_at: datetime  # UTC
    reason: str | None = None

    @property
    def stamp(self) -> str:
        """``decided_at`` as compact UTC text, microseconds kept (an object name's part)."""
        return self.decided_at.strftime("%Y%m%dT%H%M%S.%fZ")

    def document(self, recorded_at: datetime) -> dict[str, Any]:
        """The stored JSON document."""
        return {
            "claim_key": self.claim_key,
            "outcome": self.outcome,
            "decided_at": self.decided_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "reason": self.reason,
            "recorded_at": recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


@dataclass(frozen=True)
class Problem:
    """What is wrong with one row's field."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


class OutcomeBatchError(DataValidationError):
    """The batch is refused: every problem, each with its row (nothing was recorded)."""

    def __init__(self, source: str, problems: list[Problem], label: str = "row"):
        self.items = problems
        super().__init__(source, [str(p).replace("row ", f"{label} ", 1) for p in problems])


def _quote(value: Any, echo: bool = True) -> str:
    if not echo:  # the API never repeats a submitted value (docs/scoring-api.md)
        return "the value"
    text = repr(value)
    return text if len(text) <= _QUOTE else text[: _QUOTE - 3] + "..."


def parse_decided_at(value: Any, now: datetime, echo: bool = True) -> datetime | str:
    """A UTC datetime, or why ``value`` is refused."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return (
                f"{_quote(value, echo)} is not an ISO-8601 timestamp: write it like "
                "2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00 (dates such as "
                "01/02/2026 are ambiguous)"
            )
        if "T" not in text.upper() and " " not in text:
            return (
                f"{_quote(value, echo)} is a date without a time: add the time and its UTC offset"
            )
    else:
        return (
            f"{_quote(value, echo)} is not a timestamp: send ISO-8601 text such as "
            "2026-12-01T09:30Z"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        return (
            f"{_quote(value, echo)} has no UTC offset, so the moment is ambiguous: add Z (UTC) "
            "or the offset, e.g. +01:00"
        )
    when = when.astimezone(UTC)
    if when > now + FUTURE_SKEW:
        return (
            f"{_quote(value, echo)} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}, "
            f"{int(FUTURE_SKEW.total_seconds() // 60)} minutes of clock skew allowed)"
        )
    return when


def _claim_id(value: Any, echo: bool) -> str | Problem | None:
    """The claim id as the scoring request's text form, or a problem."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        kind = "a number with a fraction" if isinstance(value, float) else type(value).__name__
        return Problem(
            0, "claim_id", f"{_quote(value, echo)} is {kind}: send the id as text, as it was scored"
        )
    text = str(value)
    if not text.strip():
        return Problem(0, "claim_id", "is empty")
    if text != text.strip():
        return Problem(
            0,
            "claim_id",
            f"{_quote(value, echo)} has leading or trailing spaces: send the id exactly as scored",
        )
    if len(text) > MAX_CLAIM_ID_CHARS:
        return Problem(0, "claim_id", f"is longer than {MAX_CLAIM_ID_CHARS} characters")
    return text


def _row(
    raw: Any,
    salt: str,
    now: datetime,
    outcome_map: Mapping[str, str] | None,
    strict: bool,
    echo: bool,
) -> tuple[Outcome | None, list[Problem]]:
    if not isinstance(raw, Mapping):
        return None, [Problem(0, "row", "is not an object with claim_id, outcome, decided_at")]
    problems = [Problem(0, name, "is missing") for name in REQUIRED if raw.get(name) is None]
    if strict:
        extra = sorted(str(k) for k in raw if k not in FIELDS)
        if extra:
            names = ", ".join(_quote(k) for k in extra[:5])
            problems.append(
                Problem(0, "row", f"unknown field(s) {names}: the fields are {', '.join(FIELDS)}")
            )
    key = outcome = when = None
    if raw.get("claim_id") is not None:
        checked = _claim_id(raw["claim_id"], echo)
        if isinstance(checked, Problem):
            problems.append(checked)
        else:
            key = claim_key(checked, salt)
    if raw.get("outcome") is not None:
        value = raw["outcome"]
        # With a map, its codes and the two outcomes themselves are accepted (never a guess).
        outcome = outcome_map.get(str(value).strip(), value) if outcome_map else value
        if outcome not in OUTCOMES:
            hint = (
                f"nor a code of the outcome map: {', '.join(map(repr, outcome_map))}"
                if outcome_map
                else "send one of them, in lowercase"
                if strict
                else "map other codes with --outcome-map"
            )
            problems.append(
                Problem(0, "outcome", f"{_quote(value, echo)} is not fraud or legitimate ({hint})")
            )
            outcome = None
    if raw.get("decided_at") is not None:
        parsed = parse_decided_at(raw["decided_at"], now, echo)
        if isinstance(parsed, str):
            problems.append(Problem(0, "decided_at", parsed))
        else:
            when = parsed
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        problems.append(Problem(0, "reason", f"{_quote(reason, echo)} is not text"))
    elif reason is not None and len(reason) > MAX_REASON_CHARS:
        problems.append(
            Problem(0, "reason", f"is {len(reason):,} characters, over {MAX_REASON_CHARS}")
        )
    if problems or key is None or outcome is None or when is None:
        return None, problems
    text = reason.strip() if isinstance(reason, str) else None
    return Outcome(key, outcome, when, text or None), []


def validate_outcomes(
    rows: Sequence[Any],
    salt: str,
    *,
    now: datetime | None = None,
    outcome_map: Mapping[str, str] | None = None,
    strict: bool = True,
    source: str = "outcome batch",
    first_row: int = 0,
    label: str = "row",
    echo: bool = True,
) -> list[Outcome]:
    """Every row as an :class:`Outcome`, or :class:`OutcomeBatchError` with every problem.

    Args:
        rows: mappings with claim_id, outcome, decided_at and optionally reason.
        salt: the claim-key salt (:meth:`ClaimKeySettings.salt`).
        outcome_map: the export's codes to ``fraud``/``legitimate`` (e.g. ``{"Y": "fraud"}``).
        strict: refuse fields other than :data:`FIELDS` (the API; a file's extra columns are
            reported by its reader instead).
        first_row, label: how problems number rows (``line 2`` for a CSV's first data line).
        echo: quote refused values in problems (the CLI); the API passes False.
    """
    if len(salt) < MIN_SALT_CHARS:
        raise ConfigError(f"the claim-key salt must have at least {MIN_SALT_CHARS} characters")
    if outcome_map:
        bad = {k: v for k, v in outcome_map.items() if v not in OUTCOMES}
        if bad:
            raise ConfigError(
                f"the outcome map sends {', '.join(f'{k}={v}' for k, v in bad.items())}: "
                "map codes to fraud or legitimate only"
            )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    problems: list[Problem] = []
    outcomes: list[Outcome] = []
    seen: dict[tuple[str, datetime], int] = {}
    if not rows:
        raise OutcomeBatchError(source, [Problem(first_row, "batch", "holds no outcomes")], label)
    for index, raw in enumerate(rows, first_row):
        outcome, found = _row(raw, salt, now, outcome_map, strict, echo)
        problems += [Problem(index, p.field, p.message) for p in found]
        if outcome is None:
            continue
        earlier = seen.setdefault((outcome.claim_key, outcome.decided_at), index)
        if earlier != index:
            problems.append(
                Problem(
                    index,
                    "decided_at",
                    f"repeats {label} {earlier}: same claim_id and decided_at (one decision is "
                    "recorded once; a later decision needs a later decided_at)",
                )
            )
            continue
        outcomes.append(outcome)
    if problems:
        raise OutcomeBatchError(source, problems, label)
    return outcomes
