"""What a monitoring run is asked: its thresholds (``MONITOR_*``) and its window.

Kept apart from the computation: this is what the flow's ``start`` step validates and the
configuration reference (README) lists, and it reads on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field, model_validator

from fraud_mlops import drift
from fraud_mlops.errors import ConfigError
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Problems


class MonitoringSettings(EnvSettings):
    """Thresholds of the monitoring flow (README: configuration reference)."""

    psi_warn: Annotated[float, BLANK_IS_UNSET] = Field(
        drift.PSI_MODERATE,
        ge=0,
        validation_alias="MONITOR_PSI_WARN",
        description="feature or score PSI from which a warning is raised",
    )
    psi_alert: Annotated[float, BLANK_IS_UNSET] = Field(
        drift.PSI_MAJOR,
        ge=0,
        validation_alias="MONITOR_PSI_ALERT",
        description="feature or score PSI from which an alert is raised (and notified)",
    )
    alert_budget: Annotated[float, BLANK_IS_UNSET] = Field(
        0.05,
        gt=0,
        lt=1,
        validation_alias="MONITOR_ALERT_BUDGET",
        json_schema_extra={"allowed": "0 < share < 1"},
        description="share of claims investigators can review (training's --alert-budget)",
    )
    flag_rate_low: Annotated[float, BLANK_IS_UNSET] = Field(
        0.5,
        ge=0,
        validation_alias="MONITOR_FLAG_RATE_LOW",
        description="alert when the flag rate is below this multiple of the alert budget",
    )
    flag_rate_high: Annotated[float, BLANK_IS_UNSET] = Field(
        1.5,
        gt=0,
        validation_alias="MONITOR_FLAG_RATE_HIGH",
        json_schema_extra={"allowed": "> 0, above MONITOR_FLAG_RATE_LOW"},
        description="alert when the flag rate is above this multiple of the alert budget",
    )
    precision_floor: Annotated[float, BLANK_IS_UNSET] = Field(
        0.2,
        ge=0,
        le=1,
        validation_alias="MONITOR_PRECISION_FLOOR",
        description="realised precision at the budget below which to warn (point estimate) "
        "or alert (whole interval below)",
    )
    min_labelled: Annotated[int, BLANK_IS_UNSET] = Field(
        200,
        ge=10,
        validation_alias="MONITOR_MIN_LABELLED",
        description="labelled claims needed before realised precision or shadow evidence "
        "is judged (below: insufficient)",
    )
    maturity_days: Annotated[int, BLANK_IS_UNSET] = Field(
        7,
        ge=0,
        validation_alias="MONITOR_LABEL_MATURITY_DAYS",
        description="claims scored less than this many days before the window's end are left "
        "out of realised precision (their outcomes are not in yet)",
    )
    n_resamples: Annotated[int, BLANK_IS_UNSET] = Field(
        1000,
        ge=1000,
        le=100_000,
        validation_alias="MONITOR_BOOTSTRAP_RESAMPLES",
        description="bootstrap resamples of the precision and shadow intervals",
    )

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSettings:
        problems = []
        if self.psi_warn > self.psi_alert:
            problems.append(
                f"MONITOR_PSI_WARN={self.psi_warn} is above MONITOR_PSI_ALERT={self.psi_alert}: "
                "the warning level must not exceed the alert level"
            )
        if self.flag_rate_low >= self.flag_rate_high:
            problems.append(
                f"MONITOR_FLAG_RATE_LOW={self.flag_rate_low} must be below "
                f"MONITOR_FLAG_RATE_HIGH={self.flag_rate_high}"
            )
        if problems:
            raise Problems(problems)
        return self


# -- window -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def label(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M}Z..{self.end:%Y-%m-%dT%H:%M}Z"


def _utc(value: str | datetime, what: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        text = value.strip()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{what}={value!r} is not a date or time: use ISO 8601, e.g. 2026-11-25 or "
                "2026-11-25T06:00:00Z"
            ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def resolve_window(
    *,
    days: float | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    now: datetime | None = None,
) -> Window:
    """The window from ``start``/``end`` (ISO dates or times), or the ``days`` before ``end``.

    A date-only ``end`` means the end of that day. Raises ConfigError on a contradiction.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end_at = now if end in (None, "") else _utc(end, "--to")
    if isinstance(end, str) and len(end.strip()) == 10:  # a date: include the whole day
        end_at += timedelta(days=1)
    if start not in (None, ""):
        start_at = _utc(start, "--from")
    else:
        if days is None or not days > 0:
            raise ConfigError(f"--days={days!r}: give a positive number of days, or --from")
        start_at = end_at - timedelta(days=float(days))
    if start_at >= end_at:
        raise ConfigError(
            f"the window starts at {start_at:%Y-%m-%dT%H:%M:%SZ}, not before its end "
            f"{end_at:%Y-%m-%dT%H:%M:%SZ}: swap --from and --to or widen --days"
        )
    return Window(start_at, end_at)
