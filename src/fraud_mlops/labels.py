"""Training labels from production: captured champion scores joined with investigators' outcomes.

``--labels outcomes`` (the training flow) builds its claims here instead of reading a file:

* every claim the champion scored (lakehouse ``scores/``, role ``champion``; a claim scored more
  than once counts once, with its latest capture) brings the features it was scored with;
* its outcome (lakehouse ``outcomes/``, the latest decision per claim) is the label: fraud = 1,
  legitimate = 0;
* a claim with no outcome is **too young** while it was captured fewer than
  ``LABEL_MATURITY_DAYS`` ago (its investigation may still be open): it is left out; once
  mature it is **presumed legitimate** (label 0), the usual reading of label delay: a fraud is
  found within the maturity window or not at all. Both counts are printed.

The claim id is the stored ``claim_key``; the event time is the claim's own date column when it
was captured (a model input), else the capture time. Columns that are never captured (the
schema's ``personal`` ones) are left empty; a required feature that is missing makes validation
refuse the claims, naming it. Too few labelled claims are refused by the readiness rules
(:mod:`fraud_mlops.readiness`), with the counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from fraud_mlops.errors import DataValidationError
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema

LABEL_SOURCES = ("data", "outcomes")
SOURCE = "captured scores + outcomes"


class LabelSettings(EnvSettings):
    """Labels from outcomes (README: configuration reference)."""

    maturity_days: Annotated[int, BLANK_IS_UNSET] = Field(
        30,
        ge=0,
        le=3650,
        validation_alias="LABEL_MATURITY_DAYS",
        description="--labels outcomes: a captured claim with no outcome is left out while "
        "younger than this many days, then presumed legitimate",
    )


@dataclass(frozen=True)
class LabelCounts:
    captured: int  # distinct claims the champion scored
    with_outcome: int
    frauds: int  # outcomes that say fraud
    too_young: int  # no outcome, captured within the maturity window: left out
    presumed_legitimate: int  # no outcome, mature
    maturity_days: int

    @property
    def used(self) -> int:
        return self.with_outcome + self.presumed_legitimate

    def report(self) -> str:
        share = self.frauds / self.used if self.used else 0.0
        return (
            f"labels from outcomes: {self.captured:,} captured claim(s), {self.with_outcome:,} "
            f"with an outcome, {self.too_young:,} too young (< {self.maturity_days} days, no "
            f"outcome: left out), {self.presumed_legitimate:,} mature without an outcome "
            f"(presumed legitimate); {self.used:,} used, fraud share {share:.2%}"
        )

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "used": self.used}


def claims_from_outcomes(
    lakehouse_uri: str,
    schema: ClaimsSchema,
    *,
    maturity_days: int,
    now: datetime | None = None,
) -> tuple[pd.DataFrame, LabelCounts]:
    """Raw claims (schema columns, not yet validated) and the counts; see the module docstring."""
    import pandas as pd

    from fraud_mlops.capture import BASE_COLUMNS, iter_scores
    from fraud_mlops.outcome_reader import read_outcomes

    now = (now or datetime.now(UTC)).astimezone(UTC)
    wanted = set(schema.scoring_columns)
    parts = []
    for batch in iter_scores(lakehouse_uri, role="champion"):
        keep = ["claim_key", "captured_at", *[c for c in batch.columns if c in wanted]]
        parts.append(batch[keep])
    scores = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BASE_COLUMNS)
    scores = scores.sort_values("captured_at", kind="stable").drop_duplicates(
        "claim_key", keep="last"
    )
    outcomes = read_outcomes(lakehouse_uri, latest=True)[["claim_key", "outcome"]]
    joined = scores.merge(outcomes, on="claim_key", how="left")
    has_outcome = joined["outcome"].notna()
    young = ~has_outcome & (joined["captured_at"] > now - timedelta(days=maturity_days))
    counts = LabelCounts(
        captured=len(joined),
        with_outcome=int(has_outcome.sum()),
        frauds=int((joined["outcome"] == "fraud").sum()),
        too_young=int(young.sum()),
        presumed_legitimate=int((~has_outcome & ~young).sum()),
        maturity_days=maturity_days,
    )
    used = joined[~young].reset_index(drop=True)
    frame = used.drop(columns=["claim_key", "captured_at", "outcome"])
    frame.insert(0, schema.id_column, used["claim_key"])
    frame[schema.label_column] = (used["outcome"] == "fraud").astype(int)
    event = schema.event_time.column
    if event is not None and event not in frame.columns:  # written as the schema reads it
        fmt = schema.event_time.format or "%Y-%m-%dT%H:%M:%S.%fZ"
        frame[event] = used["captured_at"].dt.strftime(fmt)
    for column in schema.passthrough:
        if column not in frame.columns:
            frame[column] = None
    if counts.used == 0:
        raise DataValidationError(
            SOURCE,
            [
                f"no labelled claims in {lakehouse_uri}: {counts.report()}. Record outcomes "
                "(POST /v1/outcomes or `fraud-mlops outcomes ingest`), wait for claims to "
                "mature, or train from data (--labels data)"
            ],
        )
    return frame, counts
