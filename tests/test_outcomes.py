"""Outcome batches validated (#15 item 1): every problem with its row, the whole batch refused,
the same claim key as score capture, and no pandas/pyarrow (the module ships in the Lambda zip)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from fraud_mlops.capture_format import claim_key
from fraud_mlops.errors import ConfigError
from fraud_mlops.outcomes import (
    ClaimKeySettings,
    OutcomeBatchError,
    validate_outcomes,
)

SALT = "test-salt-0123456789"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def ok(claim_id: object = "C1", **extra) -> dict:
    return {"claim_id": claim_id, "outcome": "fraud", "decided_at": "2026-12-01T09:30:00Z", **extra}


def test_a_valid_batch_is_keyed_with_the_capture_salt_and_made_utc() -> None:
    rows = [
        ok(),
        ok(1042, outcome="legitimate", decided_at="2026-12-01T10:30:00+01:00", reason=" ok "),
    ]
    first, second = validate_outcomes(rows, SALT, now=NOW)
    assert first.claim_key == claim_key("C1", SALT) and first.reason is None
    assert second.claim_key == claim_key("1042", SALT)  # JSON 1042 was scored as str(1042)
    assert second.decided_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert second.outcome == "legitimate" and second.reason == "ok"
    assert first.stamp == "20261201T093000.000000Z"


def test_every_problem_is_listed_with_its_row() -> None:
    rows = [
        ok(),  # row 0 is fine
        {"claim_id": "C2", "outcome": "Fraud", "decided_at": "2026-12-01T09:30:00"},
        {"claim_id": "", "outcome": "legitimate", "decided_at": "01/02/2026"},
        {"outcome": "fraud", "decided_at": "2026-12-03T09:30:00Z", "reason": "x" * 501},
        ok(True),
        ok(1.5, decidedAt="x"),
        "not an object",
        ok(decided_at="2026-12-01T10:30:00+01:00"),  # same moment as row 0
        ok("C3", decided_at="2026-12-01"),
        ok(" C4"),
    ]
    with pytest.raises(OutcomeBatchError) as caught:
        validate_outcomes(rows, SALT, now=NOW)
    found = [(p.row, p.field) for p in caught.value.items]
    assert found == [
        (1, "outcome"),
        (1, "decided_at"),
        (2, "claim_id"),
        (2, "decided_at"),
        (3, "claim_id"),
        (3, "decided_at"),
        (3, "reason"),
        (4, "claim_id"),
        (5, "row"),
        (5, "claim_id"),
        (6, "row"),
        (7, "decided_at"),
        (8, "decided_at"),
        (9, "claim_id"),
    ]
    text = str(caught.value)
    assert "nothing was written" in text and "14 problem(s)" in text
    assert "row 1: outcome: 'Fraud' is not fraud or legitimate" in text
    assert "row 1: decided_at: '2026-12-01T09:30:00' has no UTC offset" in text
    assert "row 2: decided_at: '01/02/2026' is not an ISO-8601 timestamp" in text
    assert "row 3: claim_id: is missing" in text
    assert "row 3: decided_at: '2026-12-03T09:30:00Z' is in the future" in text
    assert "row 3: reason: is 501 characters, over 500" in text
    assert "row 5: row: unknown field(s) 'decidedAt'" in text
    assert "row 5: claim_id: 1.5 is a number with a fraction" in text
    assert "row 7: decided_at: repeats row 0" in text
    assert "row 8: decided_at: '2026-12-01' is a date without a time" in text
    assert "row 9: claim_id: ' C4' has leading or trailing spaces" in text


def test_clock_skew_is_allowed_and_aware_datetimes_accepted() -> None:
    soon = (NOW + timedelta(minutes=4)).isoformat()
    (outcome,) = validate_outcomes([ok(decided_at=soon)], SALT, now=NOW)
    assert outcome.decided_at == NOW + timedelta(minutes=4)
    (outcome,) = validate_outcomes([ok(decided_at=NOW)], SALT, now=NOW)
    assert outcome.decided_at == NOW
    with pytest.raises(OutcomeBatchError, match="has no UTC offset"):
        validate_outcomes([ok(decided_at=NOW.replace(tzinfo=None))], SALT, now=NOW)


def test_an_outcome_map_and_file_numbering() -> None:
    rows = [ok(outcome="Y"), ok("C2", outcome="N"), ok("C3", outcome="maybe"), ok("C4")]
    with pytest.raises(OutcomeBatchError) as caught:
        validate_outcomes(
            rows, SALT, now=NOW, outcome_map={"Y": "fraud", "N": "legitimate"},
            first_row=2, label="line", source="cases.csv",
        )  # fmt: skip
    text = str(caught.value)
    assert text.startswith("cases.csv: 1 problem(s) found")
    assert (
        "line 4: outcome: 'maybe' is not fraud or legitimate (nor a code of the outcome map: "
        "'Y', 'N')" in text
    )  # C4's plain "fraud" is accepted beside the map
    with pytest.raises(ConfigError, match="Y=yes"):
        validate_outcomes(rows, SALT, outcome_map={"Y": "yes"})


def test_an_empty_batch_and_a_short_salt_are_refused() -> None:
    with pytest.raises(OutcomeBatchError, match="holds no outcomes"):
        validate_outcomes([], SALT)
    with pytest.raises(ConfigError, match="at least 16"):
        validate_outcomes([ok()], "short")


def test_the_salt_setting_is_shared_required_and_long() -> None:
    assert ClaimKeySettings.from_env({"CAPTURE_KEY_SALT": SALT}).salt() == SALT
    with pytest.raises(ConfigError, match="CAPTURE_KEY_SALT is unset"):
        ClaimKeySettings.from_env({}).salt()
    with pytest.raises(ConfigError, match="shorter than 16 characters") as caught:
        ClaimKeySettings.from_env({"CAPTURE_KEY_SALT": "abc123"})
    assert "abc123" not in str(caught.value)  # a secret's value is never quoted
    settings = ClaimKeySettings.from_env({"CAPTURE_KEY_SALT": SALT})
    assert SALT not in repr(settings)


def test_validation_and_the_store_import_without_pandas_or_pyarrow() -> None:
    code = (
        "import sys\n"
        "for name in ('pandas', 'pyarrow'): sys.modules[name] = None\n"
        "import fraud_mlops.outcomes, fraud_mlops.outcome_store\n"
        "assert 'pandas' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
