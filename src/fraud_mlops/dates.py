"""Dates read the way the schema declares them, identically at ingest, in training and in scoring.

A date column has a ``format`` (strftime, e.g. ``%d/%m/%Y``) or, without one, holds ISO 8601
(``2024-03-01``, ``2024-03-01T14:30:00Z``, ``2024-03-01 14:30:00+01:00``). Nothing is guessed: a
value that does not match is an error, and :func:`reading_hint` explains non-ISO values (a
``03/04/2024`` reads as 3 April or 4 March, so the schema must say which).

Parsing is the standard library's (``datetime.strptime`` with a format, ``datetime.fromisoformat``
without), once per distinct value of a batch. Values are instants in UTC: an offset (``Z``,
``+01:00``) is applied; a value without one is taken as UTC. ``%b``/``%B`` are English month
names (the C locale the services run in).

On the scoring path: numpy and the standard library only (no pandas, no dateutil).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

NAT = np.datetime64("NaT", "us")
_NAT_INT = int(NAT.astype(np.int64))
_EPOCH, _EPOCH_UTC = datetime(1970, 1, 1), datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SMALL_BATCH = 16
# Directives a claims export needs; the others (%U, %W, %c, %x, ...) are locale or week based.
DIRECTIVES = set("YymbBdjHIpMSfzaA%")
_DAY = np.timedelta64(86_400_000_000, "us")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(\D.*)?$")
_TIME = re.compile(r"^([ T])\d{1,2}:\d{2}(:\d{2})?$")


@dataclass(frozen=True)
class ParsedDates:
    """One column of dates: ``values`` (datetime64[us], UTC, NaT where absent or bad) and masks."""

    values: np.ndarray
    absent: np.ndarray  # bool: empty, null or a declared missing-value token
    bad: np.ndarray  # bool: present but not a date in the expected format


def format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot be a date format, or None if it can."""
    if not fmt.strip():
        return "format is empty: give a strftime format such as '%d/%m/%Y', or leave it out for ISO"
    found = set(re.findall(r"%(.)", fmt))
    unsupported = sorted(found - DIRECTIVES)
    if unsupported:
        listed = " ".join(f"%{d}" for d in unsupported)
        return (
            f"format {fmt!r} uses {listed}, which is not supported; use "
            f"{' '.join('%' + d for d in sorted(DIRECTIVES - {'%'}))}"
        )
    has_day = ("d" in found and found & {"m", "b", "B"}) or "j" in found
    if not found & {"Y", "y"} or not has_day:
        return (
            f"format {fmt!r} does not give a full date: it needs a year (%Y or %y), a month "
            "(%m, %b or %B) and a day (%d), or a year and a day of the year (%j)"
        )
    sample = datetime(2024, 3, 17, 14, 30, 45, 123456, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        return f"format {fmt!r} cannot read back the dates it writes; check its directives"
    return None


def parse_dates(values: Any, fmt: str | None = None, missing: Collection[str] = ()) -> ParsedDates:
    """Parse one column: strings (``fmt``, else ISO 8601), datetimes or a datetime64 column.

    Empty strings, ``None``/NaN/NaT and the stripped ``missing`` tokens are absent, not bad.
    """
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "M":
        # A datetime column (numpy, or pandas with or without a time zone): already instants.
        if hasattr(values, "to_numpy"):
            arr = values.to_numpy(dtype="datetime64[us]")
        else:
            arr = np.asarray(values).astype("datetime64[us]")
        absent = np.isnat(arr)
        return ParsedDates(arr, absent, np.zeros(arr.shape, dtype=bool))
    items = _as_objects(values)
    tokens = frozenset(t.strip() for t in missing)
    if len(items) <= _SMALL_BATCH:  # a few claims (the API): skip the distinct-value pass
        pairs = [_classify(v, fmt, tokens) for v in items]
        at = np.array([p[0] for p in pairs], dtype=np.int64)
        kind = np.array([p[1] for p in pairs], dtype=np.int8)
        return ParsedDates(at.view("datetime64[us]"), kind == 1, kind == 2)
    # Each distinct value is classified and parsed once (dates repeat), then spread back.
    try:
        index: dict[Any, int] = {}
        codes = np.fromiter(
            (index.setdefault(v, len(index)) for v in items), dtype=np.intp, count=len(items)
        )
        distinct = list(index)
    except TypeError:  # an unhashable value (a list, a dict): classify row by row
        codes, distinct = np.arange(len(items), dtype=np.intp), list(items)
    micros = np.empty(len(distinct), dtype=np.int64)
    kinds = np.empty(len(distinct), dtype=np.int8)  # 0 a date, 1 absent, 2 bad
    for j, v in enumerate(distinct):
        micros[j], kinds[j] = _classify(v, fmt, tokens)
    at = micros[codes]
    kind = kinds[codes]
    return ParsedDates(at.view("datetime64[us]"), kind == 1, kind == 2)


def _classify(value: Any, fmt: str | None, tokens: frozenset[str]) -> tuple[int, int]:
    """(microseconds since the epoch or NaT's, 0 = a date / 1 = absent / 2 = bad)."""
    if value is None or (isinstance(value, float) and value != value):
        return _NAT_INT, 1
    if isinstance(value, str):
        text = value.strip()
        if not text or text in tokens:
            return _NAT_INT, 1
        return _parse_text(text, fmt)
    if isinstance(value, datetime | date):
        return _micros(value), 0
    if isinstance(value, np.datetime64):
        number = int(value.astype("datetime64[us]").astype(np.int64))
        return number, 1 if number == _NAT_INT else 0
    return _NAT_INT, 2  # a number or anything else is not a date


def days_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``end - start`` in days (float64, fractional for times of day); NaN if either is NaT."""
    delta = (end.astype("datetime64[us]") - start.astype("datetime64[us]")) / _DAY
    return np.asarray(delta, dtype=np.float64)  # NaT - x is NaT, and NaT / day is NaN


def reading_hint(examples: list[str], fmt: str | None) -> str:
    """Why ``examples`` did not parse and what to declare: the format, or both readings."""
    if fmt is not None:
        if any(not np.isnat(_parse_one(s, None)) for s in examples):
            return f"they do not match the declared format {fmt!r} (some look ISO 8601: check it)"
        return f"they do not match the declared format {fmt!r}"
    readings = [r for s in examples if (r := _two_readings(s)) is not None]
    if not readings:
        return (
            "without a `format` only ISO 8601 is accepted (2024-03-01, 2024-03-01T14:30:00Z); "
            "declare the column's strftime format in the schema, e.g. format: '%d.%m.%Y %H:%M'"
        )
    day_only = [r for r in readings if r[1] and not r[2]]
    month_only = [r for r in readings if r[2] and not r[1]]
    both = [r for r in readings if r[1] and r[2]]
    day_first, month_first = readings[0][3], readings[0][4]
    if day_only and month_only:
        return (
            f"they are not ISO 8601 and mix day-first ({day_only[0][0]!r}) and month-first "
            f"({month_only[0][0]!r}) values; fix the export, then declare its format"
        )
    if day_only:
        return (
            f"they are not ISO 8601 and read day-first ({day_only[0][0]!r} cannot be "
            f"month-first): declare format: '{day_first}' for this column (only ISO 8601 is "
            "read without a format)"
        )
    if month_only:
        return (
            f"they are not ISO 8601 and read month-first ({month_only[0][0]!r} cannot be "
            f"day-first): declare format: '{month_first}' for this column (only ISO 8601 is "
            "read without a format)"
        )
    if both:
        text, as_day_first, as_month_first = both[0][:3]
        return (
            f"they are not ISO 8601 and read two ways: {text!r} is {as_day_first} day-first or "
            f"{as_month_first} month-first. Nothing is guessed: declare format: '{day_first}' "
            f"or format: '{month_first}' for this column"
        )
    return "they are not dates (neither day-first nor month-first gives a calendar date)"


def _two_readings(text: str) -> tuple[str, str | None, str | None, str, str] | None:
    """``text``, its day-first and month-first dates (None if impossible) and the two formats."""
    m = _NUMERIC_DATE.match(text)
    if m is None:
        return None
    a, sep, b, y, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4), m.group(5)
    year = int(y) if len(y) == 4 else 2000 + int(y)
    clock = _TIME.match(rest or "")
    if rest and clock is None:
        return None
    time_fmt = ""
    if clock:
        time_fmt = clock.group(1) + "%H:%M" + (":%S" if clock.group(2) else "")
    year_fmt = "%Y" if len(y) == 4 else "%y"
    day_first = f"%d{sep}%m{sep}{year_fmt}{time_fmt}"
    month_first = f"%m{sep}%d{sep}{year_fmt}{time_fmt}"
    return text, _iso_date(year, b, a), _iso_date(year, a, b), day_first, month_first


def _iso_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _as_objects(values: Any) -> np.ndarray:
    if hasattr(values, "to_numpy"):
        return values.to_numpy(dtype=object, na_value=None)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr


@lru_cache(maxsize=8192)  # claims repeat dates; strptime costs ~10 µs a value, a hit ~0.1 µs
def _parse_text(text: str, fmt: str | None) -> tuple[int, int]:
    try:
        parsed = datetime.fromisoformat(text) if fmt is None else datetime.strptime(text, fmt)
    except ValueError:
        return _NAT_INT, 2
    return _micros(parsed), 0


def _parse_one(text: str, fmt: str | None) -> np.datetime64:
    micros, kind = _parse_text(text, fmt)
    return np.int64(micros).view("datetime64[us]") if kind == 0 else NAT


def _micros(value: datetime | date) -> int:
    """Microseconds since the epoch, UTC (an offset is applied; none means UTC). Exact."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return (value - _EPOCH_UTC) // _MICROSECOND
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return (value - _EPOCH) // _MICROSECOND
