"""Training labels from outcomes (#15 item 1): captured champion scores joined with outcomes,
label delay respected with counts, and too few labelled claims refused by the readiness rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fraud_mlops import capture_format as cf
from fraud_mlops.errors import ConfigError, DataValidationError
from fraud_mlops.ingest import validate_claims
from fraud_mlops.labels import LabelSettings, claims_from_outcomes
from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
from fraud_mlops.outcome_store import record_outcomes
from fraud_mlops.outcomes import validate_outcomes
from fraud_mlops.pipeline import load_run_claims
from fraud_mlops.schema import default_schema
from fraud_mlops.settings import Settings
from tests.support.evidence import NOW, SALT, captured_history


def test_counts_labels_and_the_maturity_window(tmp_path: Path) -> None:
    # 100 claims, one a day over 100 days; outcomes for the first 50; 30-day maturity: claims
    # 71-99 (< 30 days old, no outcome) are too young; 50-70 (claim 70 is exactly 30 days old)
    # are mature without an outcome: presumed legitimate.
    truth = captured_history(tmp_path, 100, days=100, decided_share=0.5)
    schema = default_schema()
    raw, counts = claims_from_outcomes(str(tmp_path), schema, maturity_days=30, now=NOW)
    assert counts.to_dict() == {
        "captured": 100, "with_outcome": 50, "frauds": truth["frauds"], "too_young": 29,
        "presumed_legitimate": 21, "maturity_days": 30, "used": 71,
    }  # fmt: skip
    assert len(raw) == 71 and raw[schema.label_column].sum() == truth["frauds"]
    assert "29 too young (< 30 days" in counts.report() and "71 used" in counts.report()
    typed = validate_claims(raw, schema, source="test")  # the schema accepts what labels build
    assert typed[schema.event_time.column].is_monotonic_increasing  # capture time stands in
    assert set(typed[schema.id_column].str.len()) == {cf.CLAIM_KEY_HEX}
    _, none_young = claims_from_outcomes(str(tmp_path), schema, maturity_days=0, now=NOW)
    assert none_young.too_young == 0 and none_young.used == 100


def test_a_claim_scored_twice_counts_once_and_shadow_scores_are_not_labels(tmp_path: Path) -> None:
    captured_history(tmp_path, 10, days=60, decided_share=1.0)
    again = cf.record(
        claim_key=cf.claim_key("C00000000", SALT), model_name="claims-fraud", model_version="2",
        role="shadow", score=0.9, flagged=True, threshold=0.5, reasons=[], features={},
        captured_at=NOW - timedelta(days=40),
    )  # fmt: skip
    path = tmp_path / cf.partition(again["captured_at"], "2") / "shadow.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(cf.log_line(again) + "\n")
    _, counts = claims_from_outcomes(str(tmp_path), default_schema(), maturity_days=30, now=NOW)
    assert counts.captured == 10


def test_a_revised_decision_is_the_label(tmp_path: Path) -> None:
    captured_history(tmp_path, 10, days=60, decided_share=1.0)
    schema = default_schema()
    raw, _ = claims_from_outcomes(str(tmp_path), schema, maturity_days=30, now=NOW)
    first_id = raw[schema.id_column].iloc[0]
    was = int(raw[schema.label_column].iloc[0])
    from fraud_mlops.synthetic import generate_claims

    claim_id = str(generate_claims(10, seed=5)[schema.id_column].iloc[0])
    flipped = "legitimate" if was else "fraud"
    row = {"claim_id": claim_id, "outcome": flipped, "decided_at": NOW.isoformat()}
    record_outcomes(str(tmp_path), validate_outcomes([row], SALT, now=NOW))
    raw, _ = claims_from_outcomes(str(tmp_path), schema, maturity_days=30, now=NOW)
    assert raw.set_index(schema.id_column).loc[first_id, schema.label_column] == 1 - was


def test_nothing_labelled_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    captured_history(tmp_path, 20, days=10, decided_share=0.0)  # all too young, no outcomes
    with pytest.raises(DataValidationError, match="no labelled claims") as caught:
        claims_from_outcomes(str(tmp_path), default_schema(), maturity_days=30, now=NOW)
    assert "20 too young" in str(caught.value) and "--labels data" in str(caught.value)


def test_the_flow_start_refuses_too_few_with_counts_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    captured_history(lake, 200, days=400, decided_share=1.0)
    settings = Settings(lakehouse_uri=str(lake))
    with pytest.raises(DataValidationError) as caught:
        load_run_claims("", "synthetic", 0, 1, "r1", settings=settings, labels="outcomes")
    text = str(caught.value)
    assert "labels from outcomes: 200 captured claim(s), 200 with an outcome" in text
    assert "200 claims are fewer than the 500 needed to train" in text
    assert Lakehouse(str(lake)).runs(RAW_CLAIMS) == []


def test_the_flow_start_loads_labelled_claims_into_raw(tmp_path: Path, capsys) -> None:
    lake = tmp_path / "lake"
    captured_history(lake, 3000, days=400, decided_share=0.9, now=datetime.now(UTC))
    settings = Settings(lakehouse_uri=str(lake))
    loaded = load_run_claims("", "synthetic", 0, 1, "r2", settings=settings, labels="outcomes")
    # the 300 undecided claims span the newest 40 days: about 225 are too young (< 30 days)
    assert 2750 <= len(loaded.frame) <= 2800
    assert Lakehouse(str(lake)).read(RAW_CLAIMS, "r2").num_rows == len(loaded.frame)
    err = capsys.readouterr().err
    assert "labels from outcomes: 3,000 captured claim(s), 2,700 with an outcome" in err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": "guess"}, "--labels 'guess': use data"),
        ({"labels": "outcomes", "input_uri": "x.csv"}, "drop --input-uri"),
    ],
)
def test_bad_label_parameters(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"input_uri": "", "schema_ref": "synthetic", "sample_size": 0, "seed": 1}
    with pytest.raises(ConfigError, match=message):
        load_run_claims(
            **{**args, **kwargs}, run_id="r", settings=Settings(lakehouse_uri=str(tmp_path))
        )


def test_maturity_setting() -> None:
    assert LabelSettings.from_env({}).maturity_days == 30
    assert LabelSettings.from_env({"LABEL_MATURITY_DAYS": "7"}).maturity_days == 7
    with pytest.raises(ConfigError, match="LABEL_MATURITY_DAYS"):
        LabelSettings.from_env({"LABEL_MATURITY_DAYS": "-1"})
