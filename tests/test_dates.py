"""Dates: declared formats, ISO 8601 by default, and no guessing between day and month first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_mlops.dates import days_between, format_problem, parse_dates, reading_hint


def _iso(parsed) -> list[str]:
    return [str(v)[:10] if not np.isnat(v) else "NaT" for v in parsed.values]


def test_day_first_and_month_first_formats_read_the_same_text_differently() -> None:
    text = ["03/04/2024", "12/01/2024", "31/12/2023"]
    day_first = parse_dates(text, "%d/%m/%Y")
    assert _iso(day_first) == ["2024-04-03", "2024-01-12", "2023-12-31"]
    month_first = parse_dates(text, "%m/%d/%Y")
    assert _iso(month_first)[:2] == ["2024-03-04", "2024-12-01"]
    assert month_first.bad.tolist() == [False, False, True]  # there is no month 31


def test_iso_is_the_default_with_offsets_applied_and_utc_assumed() -> None:
    parsed = parse_dates(["2024-03-01", "2024-03-01T14:30:00+01:00", "2024-03-01 00:00:00Z"])
    assert parsed.values.tolist()[1].isoformat() == "2024-03-01T13:30:00"
    assert not parsed.bad.any()
    assert parse_dates(["01/03/2024"]).bad.tolist() == [True]  # never read as a guess


def test_missing_tokens_and_blanks_are_absent_not_bad() -> None:
    parsed = parse_dates(
        ["?", "", None, float("nan"), " NA ", "x", "01/02/2024"], "%d/%m/%Y", ["?", "NA"]
    )
    assert parsed.absent.tolist() == [True, True, True, True, True, False, False]
    assert parsed.bad.tolist() == [False] * 5 + [True, False]


def test_timestamps_parse_to_the_same_instants_as_their_text() -> None:
    text = pd.Series([f"{d:02d}/01/2024" for d in range(1, 29)] + ["?"])
    from_text = parse_dates(text, "%d/%m/%Y", ["?"])  # many values: the distinct-value path
    stamps = pd.Series(from_text.values).dt.tz_localize("UTC")
    from_stamps = parse_dates(stamps)
    np.testing.assert_array_equal(from_text.values, from_stamps.values)
    np.testing.assert_array_equal(from_text.absent, from_stamps.absent)


def test_days_between_is_fractional_and_missing_when_either_date_is() -> None:
    start = parse_dates(["2024-01-01", "2024-01-01T12:00:00", None]).values
    end = parse_dates(["2024-03-01", "2024-01-02", "2024-01-02"]).values
    days = days_between(start, end)
    assert days[:2].tolist() == [60.0, 0.5] and np.isnan(days[2])


@pytest.mark.parametrize(
    ("examples", "expected"),
    [
        (
            ["03/04/2024", "11/12/2024"],
            "'03/04/2024' is 2024-04-03 day-first or 2024-03-04 month-first",
        ),
        (
            ["03/04/2024", "13/04/2024"],
            "read day-first ('13/04/2024' cannot be month-first): declare format: '%d/%m/%Y'",
        ),
        (["04/13/2024 10:30"], "declare format: '%m/%d/%Y %H:%M'"),
        (
            ["13/04/2024", "04/13/2024"],
            "mix day-first ('13/04/2024') and month-first ('04/13/2024')",
        ),
        (["March 1st"], "only ISO 8601 is accepted"),
    ],
)
def test_non_iso_values_get_a_reading_and_the_format_to_declare(examples, expected) -> None:
    assert expected in reading_hint(examples, None)


def test_a_declared_format_that_does_not_match_says_so() -> None:
    assert "declared format '%d/%m/%Y' (some look ISO 8601" in reading_hint(
        ["2024-03-01"], "%d/%m/%Y"
    )


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("%d/%m/%Y", None),
        ("%Y%m%dT%H%M%S%z", None),
        ("%d %b %Y", None),
        ("%d/%m", "does not give a full date"),
        ("%d/%m/%Y %Q", "uses %Q, which is not supported"),
        ("  ", "format is empty"),
    ],
)
def test_formats_are_checked_before_any_data_is_read(fmt, problem) -> None:
    found = format_problem(fmt)
    assert (found is None) if problem is None else (problem in found)
